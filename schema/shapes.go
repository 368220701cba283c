package schema

// StringList is a list of strings that may be written as one string
// (upstream's VecOrSingle).
type StringList []string

// Port is a TCP or UDP port number.
type Port = uint16

// PortList is a list of ports that may be written as one port.
type PortList []Port

// PortPair is a `[from, to]` pair of ports.
type PortPair [2]Port

// Quantity is a Kubernetes resource quantity such as "100Mi"; a number is
// accepted and kept as its decimal text.
type Quantity string

// Duration is a whole number of time units, or "infinite".
type Duration struct {
	Value    int
	Infinite bool
}
