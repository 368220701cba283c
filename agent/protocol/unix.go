package protocol

// StreamUnix is opened by the client: the agent connects to the unix
// stream socket at Addr as the target sees it (an absolute path in the
// target's filesystem, or "@name" for an abstract socket of the target's
// network namespace) and relays bytes
// (feature.network.outgoing.unix_streams).
const StreamUnix Kind = "unix.connect"
