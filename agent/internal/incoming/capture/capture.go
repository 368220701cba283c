//go:build linux

// Package capture steals a target pod's incoming TCP connections: inside
// the pod's network namespace it redirects chosen destination ports to a
// listener the agent owns there, and tells the agent where each captured
// connection was going (OriginalDst).
//
// Upstream mirrord does this with iptables chains and a guard process that
// removes them when the agent dies. We use nftables over netlink instead:
// the agent image has no iptables binary, and netlink lets the kernel own
// the cleanup. Each agent gets one inet table, "mirrord_<owner>", created
// with NFT_TABLE_F_OWNER on a netlink socket opened inside the target's
// namespace and kept open for the Capture's life. The kernel deletes an
// owned table when the socket that created it is released, so an agent
// that is SIGKILLed or OOM-killed still leaves nothing behind, and no other
// process can change or delete the table while the agent lives.
//
// The table holds a set of ports and two nat chains that never change:
//
//	prerouting (priority -110): tcp dport @ports redirect to :ListenPort
//	output     (priority -110): oifname "lo" meta mark & Mark != Mark
//	                            tcp dport @ports redirect to :ListenPort
//
// Redirect and Unredirect only add and remove set elements, which the
// kernel applies atomically. Priority -110 runs before the usual dstnat
// chains (-100, where iptables-nft and service meshes such as Istio put
// theirs): the first nat chain that binds a connection wins, so we capture
// before the mesh does. The output chain catches the pod's own loopback
// traffic (sidecars, port-forward, the pod dialing its own IP); the agent's
// passthrough dials carry Mark (see Control) and are never redirected.
package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
)

// TablePrefix starts the name of every table this package creates. Tables
// with this prefix belong to mirrord agents, live or dead.
const TablePrefix = "mirrord_"

// setName is the port set in every agent's table, the same in all of them
// so that one agent can read another's ports to detect conflicts.
const setName = "ports"

// chainPriority is a bit before NF_IP_PRI_NAT_DST (-100), see the package
// doc.
const chainPriority = -110

// ErrUnsupported is wrapped by Open when the target's kernel cannot run the
// capture rules (no nf_tables, no inet nat chains, no redir expression, or
// no owned tables).
var ErrUnsupported = errors.New("nftables nat/redirect not available in the target's kernel (mirrord needs Linux 5.12+ with nf_tables, inet nat chains and redirect)")

// ErrClosed is returned by Redirect and Unredirect after Close.
var ErrClosed = errors.New("capture is closed")

// Options configure a Capture.
type Options struct {
	// NS is the target's network namespace.
	NS nsenter.Namespace
	// Owner is the agent's identity (pod or job name). The table is
	// "mirrord_" + Owner with every character outside [A-Za-z0-9_]
	// replaced by '_'; Owner itself is kept in the table's comment.
	Owner string
	// ListenPort is the agent's listener port in NS (bound on 0.0.0.0
	// and/or [::]).
	ListenPort uint16
	// Mark is the fwmark of the agent's own passthrough dials (Control);
	// loopback traffic carrying all of its bits is never redirected. It
	// must not be zero.
	Mark uint32
	// FlushConnections makes Redirect(port) delete the ESTABLISHED
	// conntrack entries to that port, so that long-lived connections
	// are reset, re-established and captured (agent.flush_connections).
	FlushConnections bool
	// CleanLeftovers deletes leftover mirrord_* tables of dead agents in
	// Open instead of failing with *DirtyError
	// (agent.clean_iptables_on_start).
	CleanLeftovers bool
	// Log receives cleanup and flush reports; nil discards them.
	Log *slog.Logger
}

// DirtyError reports tables named mirrord_* that no live agent owns: left
// by something that did not create them as owned tables (an older agent,
// a hand-made table). They may still redirect ports, so Open refuses to
// run next to them unless told to delete them.
type DirtyError struct {
	// Tables are "family name", as `nft list tables` prints them.
	Tables []string
}

func (e *DirtyError) Error() string {
	return fmt.Sprintf("dirty iptables: the target's network namespace has nftables tables left by a mirrord agent that is no longer running (%s); set agent.clean_iptables_on_start to true to delete them when the agent starts",
		strings.Join(e.Tables, ", "))
}

// ConflictError reports that another live agent already redirects a port
// in the same network namespace.
type ConflictError struct {
	Port uint16
	// Owner is the other agent's Options.Owner.
	Owner string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("port %d is already redirected by another mirrord agent (%s) in the target's network namespace", e.Port, e.Owner)
}

// Capture is an agent's redirect table in a target's network namespace.
// Its methods are safe for concurrent use.
type Capture struct {
	opts  Options
	log   *slog.Logger
	table *nftables.Table
	set   *nftables.Set

	mu sync.Mutex // guards everything below and serializes netlink use
	// conn is a lasting connection on nl, the socket that owns the table:
	// only it may change the table, and closing it deletes the table.
	conn   *nftables.Conn
	nl     *netlink.Conn
	ports  map[uint16]bool
	closed bool
}

// TableName returns the name of owner's table.
func TableName(owner string) string {
	b := []byte(owner)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	// NFT_NAME_MAXLEN is 256 with the NUL; stay well inside it.
	if len(b) > 200 {
		b = b[:200]
	}
	return TablePrefix + string(b)
}

// Open creates the agent's table in o.NS, with an empty port set. It fails
// with *DirtyError if leftover tables exist (unless o.CleanLeftovers), and
// with an error wrapping ErrUnsupported if the kernel cannot run the rules,
// so calling it when the agent starts checks kernel support early. ctx
// bounds the netlink exchanges through its deadline.
func Open(ctx context.Context, o Options) (*Capture, error) {
	return open(ctx, o, true)
}

// open is Open; leftovers says whether to look for leftover tables.
func open(ctx context.Context, o Options, leftovers bool) (*Capture, error) {
	switch {
	case o.Owner == "":
		return nil, errors.New("capture: Options.Owner is empty")
	case o.ListenPort == 0:
		return nil, errors.New("capture: Options.ListenPort is zero")
	case o.Mark == 0:
		// With mark 0 every unmarked packet would look like the agent's.
		return nil, errors.New("capture: Options.Mark is zero")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening the capture table: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Capture{
		opts:  o,
		log:   log.With("table", "inet "+TableName(o.Owner)),
		table: &nftables.Table{Name: TableName(o.Owner), Family: nftables.TableFamilyINet},
		ports: map[uint16]bool{},
	}
	// A fixed ID: the library would otherwise take one from an unguarded
	// package variable, racing with Captures opened concurrently. It only
	// has to be unique within one batch.
	c.set = &nftables.Set{Table: c.table, ID: 1, Name: setName, KeyType: nftables.TypeInetService}

	// The socket is created inside the namespace and keeps it for life.
	err := o.NS.Do(func() error {
		var err error
		c.conn, err = nftables.New(nftables.AsLasting(), nftables.WithSockOptions(func(nl *netlink.Conn) error {
			c.nl = nl
			return nil
		}))
		return err
	})
	if err != nil {
		return nil, classify("opening an nftables netlink socket in the target's network namespace", err)
	}
	ok := false
	defer func() {
		if !ok {
			// Closing the owner socket also deletes a half-built table.
			_ = c.conn.CloseLasting()
		}
	}()
	if d, has := ctx.Deadline(); has {
		if err := c.nl.SetDeadline(d); err != nil {
			return nil, fmt.Errorf("setting the netlink deadline: %w", err)
		}
	}

	if leftovers {
		if err := c.checkLeftovers(); err != nil {
			return nil, err
		}
	}
	if err := createOwnedTable(c.nl, c.table.Name, o.Owner); err != nil {
		return nil, classify("creating table inet "+c.table.Name, err)
	}
	if err := c.addChains(); err != nil {
		return nil, classify("creating the redirect chains in table inet "+c.table.Name, err)
	}
	if err := c.nl.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing the netlink deadline: %w", err)
	}
	ok = true
	c.log.Debug("capture table created", "listen_port", o.ListenPort, "mark", o.Mark)
	return c, nil
}

// Check reports whether ns can run the capture rules, by creating and
// deleting a probe table with the same chains, so the agent can fail at
// start with a clear error rather than at the first subscription. The
// error wraps ErrUnsupported when the kernel lacks what is needed.
// Leftover tables are Open's business and are ignored here.
func Check(ctx context.Context, ns nsenter.Namespace) error {
	c, err := open(ctx, Options{NS: ns, Owner: fmt.Sprintf("probe_%d", os.Getpid()), ListenPort: 1, Mark: 1}, false)
	if err != nil {
		return err
	}
	return c.Close()
}

// checkLeftovers fails with *DirtyError, or deletes the leftovers, when
// mirrord_* tables exist that no live socket owns.
func (c *Capture) checkLeftovers() error {
	tables, err := listTables(c.nl)
	if err != nil {
		return classify("listing the nftables tables of the target's network namespace", err)
	}
	var dirty []tableInfo
	for _, t := range tables {
		if !strings.HasPrefix(t.name, TablePrefix) {
			continue
		}
		if !t.live() {
			dirty = append(dirty, t)
			continue
		}
		if t.name == c.table.Name && t.family == c.table.Family {
			return fmt.Errorf("table inet %s is already held by a live mirrord agent with the same identity %q (netlink port %d)", t.name, t.owner(), t.ownerPort)
		}
	}
	if len(dirty) == 0 {
		return nil
	}
	if !c.opts.CleanLeftovers {
		e := &DirtyError{}
		for _, t := range dirty {
			e.Tables = append(e.Tables, t.String())
		}
		return e
	}
	for _, t := range dirty {
		c.conn.DelTable(&nftables.Table{Name: t.name, Family: t.family})
	}
	if err := c.conn.Flush(); err != nil {
		return fmt.Errorf("deleting leftover mirrord tables (agent.clean_iptables_on_start): %w", err)
	}
	for _, t := range dirty {
		c.log.Warn("deleted a leftover mirrord table (agent.clean_iptables_on_start)", "leftover", t.String())
	}
	return nil
}

// addChains adds the port set and both chains in one transaction.
func (c *Capture) addChains() error {
	if err := c.conn.AddSet(c.set, nil); err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	pre := c.conn.AddChain(&nftables.Chain{
		Name: "prerouting", Table: c.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(chainPriority), Policy: &accept,
	})
	out := c.conn.AddChain(&nftables.Chain{
		Name: "output", Table: c.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRef(chainPriority), Policy: &accept,
	})
	c.conn.AddRule(&nftables.Rule{Table: c.table, Chain: pre, Exprs: redirectExprs(c.set, c.opts.ListenPort)})
	c.conn.AddRule(&nftables.Rule{Table: c.table, Chain: out, Exprs: append(loopbackUnmarked(c.opts.Mark), redirectExprs(c.set, c.opts.ListenPort)...)})
	return c.conn.Flush()
}

// Redirect sends new TCP connections to port in the target's namespace to
// the agent's listener. It is a no-op for a port already redirected. It
// fails with *ConflictError if another live agent redirects port. With
// FlushConnections, established connections to port are then reset (a
// failure there is logged: the redirect itself is in place).
func (c *Capture) Redirect(port uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("redirecting port %d: %w", port, ErrClosed)
	}
	if port == c.opts.ListenPort {
		return fmt.Errorf("redirecting port %d: it is the agent's own listener port", port)
	}
	if c.ports[port] {
		return nil
	}
	// Another agent could add the same port between this check and our
	// add: owned tables cannot be locked together. The window is a few
	// netlink round trips.
	if err := c.checkConflict(port); err != nil {
		return err
	}
	if err := c.conn.SetAddElements(c.set, []nftables.SetElement{{Key: binaryutil.BigEndian.PutUint16(port)}}); err != nil {
		return fmt.Errorf("redirecting port %d: %w", port, err)
	}
	if err := c.conn.Flush(); err != nil {
		return fmt.Errorf("redirecting port %d in table inet %s: %w", port, c.table.Name, err)
	}
	c.ports[port] = true
	c.log.Debug("port redirected", "port", port)
	if c.opts.FlushConnections {
		n, err := flushEstablished(c.opts.NS, port, c.opts.ListenPort)
		if err != nil {
			c.log.Warn("flushing established connections of a redirected port failed; they keep going to the app until they reconnect (agent.flush_connections)", "port", port, "error", err)
		} else if n > 0 {
			c.log.Info("flushed established connections so they reconnect through the agent", "port", port, "connections", n)
		}
	}
	return nil
}

// checkConflict returns *ConflictError if a live table of another agent
// has port in its set.
func (c *Capture) checkConflict(port uint16) error {
	tables, err := listTables(c.nl)
	if err != nil {
		return fmt.Errorf("redirecting port %d: listing tables for conflicts: %w", port, err)
	}
	for _, t := range tables {
		if !strings.HasPrefix(t.name, TablePrefix) || !t.live() || (t.name == c.table.Name && t.family == c.table.Family) {
			continue
		}
		set, err := c.conn.GetSetByName(&nftables.Table{Name: t.name, Family: t.family}, setName)
		if errors.Is(err, unix.ENOENT) {
			continue // not a table of ours, or one being built
		}
		if err != nil {
			return fmt.Errorf("redirecting port %d: reading the ports of %s: %w", port, t, err)
		}
		elems, err := c.conn.GetSetElements(set)
		if err != nil {
			return fmt.Errorf("redirecting port %d: reading the ports of %s: %w", port, t, err)
		}
		for _, e := range elems {
			if len(e.Key) == 2 && binaryutil.BigEndian.Uint16(e.Key) == port {
				return &ConflictError{Port: port, Owner: t.owner()}
			}
		}
	}
	return nil
}

// Unredirect stops redirecting new connections to port; connections
// already captured keep their NAT binding. It is a no-op for a port not
// redirected.
func (c *Capture) Unredirect(port uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("unredirecting port %d: %w", port, ErrClosed)
	}
	if !c.ports[port] {
		return nil
	}
	if err := c.conn.SetDeleteElements(c.set, []nftables.SetElement{{Key: binaryutil.BigEndian.PutUint16(port)}}); err != nil {
		return fmt.Errorf("unredirecting port %d: %w", port, err)
	}
	if err := c.conn.Flush(); err != nil {
		return fmt.Errorf("unredirecting port %d in table inet %s: %w", port, c.table.Name, err)
	}
	delete(c.ports, port)
	c.log.Debug("port unredirected", "port", port)
	return nil
}

// Close deletes the table and closes the owner socket. It is idempotent.
// The table goes even if the delete fails: the socket owned it.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.conn.DelTable(c.table)
	if err := c.conn.Flush(); err != nil {
		c.log.Debug("deleting the capture table failed; closing its owner socket removes it", "error", err)
	}
	if err := c.conn.CloseLasting(); err != nil {
		return fmt.Errorf("closing the nftables socket of table inet %s: %w", c.table.Name, err)
	}
	c.log.Debug("capture table removed")
	return nil
}

// classify wraps err with what, and with ErrUnsupported or a permission
// hint when the errno says so.
func classify(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT),
		errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w: %w", what, ErrUnsupported, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%s (the agent needs CAP_NET_ADMIN in the target's network namespace): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
