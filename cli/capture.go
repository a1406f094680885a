package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/nslab/nslab/capture"
	"github.com/nslab/nslab/netns"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { register(newCaptureCmd) }

func newCaptureCmd() *cobra.Command {
	var (
		o      capture.Options
		out    string
		nsFlag string
	)
	c := &cobra.Command{
		Use:   "capture LAB NODE:IF | capture --netns NS IF",
		Short: "Capture the packets of a namespace's interface to a pcap file or a pipe (tcpdump -w, without tcpdump)",
		Long: `Capture the packets of interface IF of lab node NODE (namespace LAB-NODE),
or with --netns of any named namespace, and write them as pcap or pcapng to
FILE (-w), or to stdout with -w - so that Wireshark or tshark can read them live.

The capture runs in nslab itself, on an AF_PACKET socket: tcpdump is not used.
A filter (-f) is a tcpdump expression (pcap-filter(7)), compiled by libpcap
(Debian package libpcap0.8) and run in the kernel. The capture stops after
--count packets, after --duration, or on Ctrl-C; the file is complete in every
case. Status lines go to stderr.`,
		Example: `  nslab capture demo h1:eth0 -w h1.pcap -c 100
  nslab capture demo h1:eth0 -w - | wireshark -k -i -
  nslab capture demo r1:eth1 -f 'icmp or arp' --duration 30s -w r1.pcapng
  nslab capture --netns blue veth0 -w - | tshark -r -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if nsFlag != "" {
				if len(args) != 1 {
					return fmt.Errorf("capture --netns %s: give one interface, e.g. 'nslab capture --netns %s eth0'", nsFlag, nsFlag)
				}
				return nil
			}
			if len(args) != 2 {
				return errors.New("capture: give a lab and NODE:IF ('nslab capture demo h1:eth0'), or --netns NS IF")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("format") && strings.HasSuffix(out, ".pcapng") {
				o.Format = capture.FormatPcapng
			}
			nsName, dev, label, where, err := captureTarget(nsFlag, args)
			if err != nil {
				return err
			}
			ns, err := netns.Open(nsName)
			if err != nil {
				if nsFlag == "" {
					return fmt.Errorf("%s: %w", where, err)
				}
				return err
			}
			defer ns.Close()

			dest := out
			if dest == "" {
				if ttyOutput(os.Stdout) {
					return fmt.Errorf("capture on %s: not writing binary pcap to a terminal: give -w FILE, or pipe it (-w - | tshark -r -)", label)
				}
				dest = "-"
			}
			stderr := cmd.ErrOrStderr()
			w := &captureOutput{path: dest, stdout: cmd.OutOrStdout(), started: func() {
				filter := ""
				if o.Filter != "" {
					filter = fmt.Sprintf(", filter %q", o.Filter)
				}
				to := dest
				if to == "-" {
					to = "stdout"
				}
				format := o.Format
				if format == "" {
					format = capture.FormatPcap
				}
				fmt.Fprintf(stderr, "capturing on %s in netns %s%s, %s to %s\n", label, nsName, filter, format, to)
			}}
			n, err := capture.Run(cmd.Context(), ns, dev, w, o)
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				err = nil // Ctrl-C is the normal end of an open-ended capture
			}
			if cerr := w.close(); err == nil && cerr != nil {
				err = fmt.Errorf("capture on %s: close %s: %w", label, dest, cerr)
			}
			if w.opened() {
				fmt.Fprintf(stderr, "%d packets captured\n", n)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&out, "write", "w", "", "write packets to FILE (- = stdout; default stdout when it is not a terminal)")
	f.StringVarP(&o.Filter, "filter", "f", "", "capture only packets that match this tcpdump filter expression")
	f.IntVarP(&o.Count, "count", "c", 0, "stop after this many packets (0 = no limit)")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long, e.g. 30s (0 = no limit)")
	f.IntVarP(&o.Snaplen, "snaplen", "s", 0, fmt.Sprintf("keep at most this many bytes of each packet (0 = %d, whole packets)", capture.DefaultSnaplen))
	f.StringVar(&o.Format, "format", "", "output format: pcap or pcapng (default pcap, or pcapng when FILE ends in .pcapng)")
	f.StringVar(&nsFlag, "netns", "", "capture in this named namespace (then give IF alone)")
	return c
}

// captureTarget resolves the command line to a namespace name, an
// interface, a label for status lines, and where (the context errors get).
// A lab node's namespace is LAB-NODE, the lab naming convention.
func captureTarget(nsFlag string, args []string) (nsName, dev, label, where string, err error) {
	if nsFlag != "" {
		return nsFlag, args[0], args[0], fmt.Sprintf("netns %q", nsFlag), nil
	}
	lab, ep := args[0], args[1]
	node, dev, ok := strings.Cut(ep, ":")
	if !ok || node == "" || dev == "" || strings.Contains(dev, ":") {
		return "", "", "", "", fmt.Errorf("capture in lab %q: %q is not NODE:IF (e.g. h1:eth0)", lab, ep)
	}
	if lab == "" {
		return "", "", "", "", errors.New("capture: the lab name is empty")
	}
	return lab + "-" + node, dev, ep, fmt.Sprintf("lab %q node %q", lab, node), nil
}

// ttyOutput reports whether f is a terminal.
func ttyOutput(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// captureOutput opens its file on the first write, which capture.Run makes
// only once every check has passed and the socket is capturing: bad input
// leaves no file behind and does not truncate an existing one.
type captureOutput struct {
	path    string // "-" = stdout
	stdout  io.Writer
	started func()

	mu   sync.Mutex
	w    io.Writer
	file *os.File
}

func (c *captureOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		if c.path == "-" {
			c.w = c.stdout
		} else {
			f, err := os.Create(c.path)
			if err != nil {
				return 0, err
			}
			c.file, c.w = f, f
		}
		c.started()
	}
	return c.w.Write(p)
}

func (c *captureOutput) opened() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w != nil
}

func (c *captureOutput) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file == nil {
		return nil
	}
	return c.file.Close()
}
