// Command pionclient drives pion/turn v2 (a real third-party TURN client)
// against a TURN server: Allocate, CreatePermission, then a paced ping-pong
// of distinct payloads through the relay to a UDP echo peer it runs itself
// on loopback. It prints one JSON summary line on stdout and exits non-zero
// on any failure, so tests/interop/test_pion.py can assert on real outcomes
// (bytes intact, counts) and on the error text of refused credentials.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

type summary struct {
	Transport   string `json:"transport"`
	Relayed     string `json:"relayed"`
	Peer        string `json:"peer"`
	PeerSawFrom string `json:"peer_saw_from"`
	Sent        int    `json:"sent"`
	Echoed      int    `json:"echoed"`
	Corrupt     int    `json:"corrupt"`
	Bytes       int    `json:"bytes"`
	Error       string `json:"error,omitempty"`
}

// echoPeer answers every datagram with the same bytes and reports the first
// source address it saw, which must be the allocation's relayed address.
func echoPeer(conn net.PacketConn, firstFrom chan<- string) {
	buf := make([]byte, 65536)
	sent := false
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if !sent {
			firstFrom <- from.String()
			sent = true
		}
		if _, err := conn.WriteTo(buf[:n], from); err != nil {
			return
		}
	}
}

// payload makes message i distinct in content and size (20..1219 bytes) so
// a reordered, truncated or cross-wired echo cannot pass the comparison.
func payload(i int) []byte {
	size := 20 + (i*37)%1200
	b := make([]byte, size)
	copy(b, fmt.Sprintf("pion-%06d:", i))
	for j := 12; j < size; j++ {
		b[j] = byte((i*131 + j*7) & 0xff)
	}
	return b
}

func run(s *summary, server, transport, user, pass, realm string, count int, perPacket time.Duration) error {
	peerConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("peer listen: %w", err)
	}
	defer peerConn.Close()
	s.Peer = peerConn.LocalAddr().String()
	firstFrom := make(chan string, 1)
	go echoPeer(peerConn, firstFrom)

	var clientConn net.PacketConn
	switch transport {
	case "udp":
		clientConn, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("client listen: %w", err)
		}
	case "tcp":
		c, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", server, err)
		}
		clientConn = turn.NewSTUNConn(c)
	default:
		return fmt.Errorf("unknown transport %q", transport)
	}
	defer clientConn.Close()

	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelWarn
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           clientConn,
		Username:       user,
		Password:       pass,
		Realm:          realm,
		Software:       "icestation-interop-pion",
		LoggerFactory:  lf,
	})
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	relayConn, err := client.Allocate()
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	defer relayConn.Close()
	s.Relayed = relayConn.LocalAddr().String()

	peerAddr := peerConn.LocalAddr()
	if err := client.CreatePermission(peerAddr); err != nil {
		return fmt.Errorf("create permission: %w", err)
	}

	// Paced ping-pong: one datagram in flight, so a loss on loopback is a
	// server defect rather than socket-buffer overflow. After the first
	// Send indication pion binds a channel, so later rounds use ChannelData.
	buf := make([]byte, 65536)
	for i := 0; i < count; i++ {
		want := payload(i)
		if _, err := relayConn.WriteTo(want, peerAddr); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		s.Sent++
		if err := relayConn.SetReadDeadline(time.Now().Add(perPacket)); err != nil {
			return err
		}
		n, from, err := relayConn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("echo %d not received within %s: %w", i, perPacket, err)
		}
		if from.String() != peerAddr.String() {
			return fmt.Errorf("echo %d came from %s, want %s", i, from, peerAddr)
		}
		if !bytes.Equal(buf[:n], want) {
			s.Corrupt++
			return fmt.Errorf("echo %d corrupt: got %d bytes, want %d", i, n, len(want))
		}
		s.Echoed++
		s.Bytes += n
	}
	select {
	case s.PeerSawFrom = <-firstFrom:
	default:
	}
	if s.PeerSawFrom != s.Relayed {
		return fmt.Errorf("peer saw traffic from %q, relayed address is %q", s.PeerSawFrom, s.Relayed)
	}
	return nil
}

func main() {
	server := flag.String("server", "127.0.0.1:3478", "TURN server host:port")
	transport := flag.String("transport", "udp", "client transport to the server: udp or tcp")
	user := flag.String("user", "", "TURN username (REST form <expiry>:<user>)")
	pass := flag.String("pass", "", "TURN credential")
	realm := flag.String("realm", "", "realm (the server's 401 supplies it anyway)")
	count := flag.Int("count", 200, "datagrams to send through the relay")
	perPacket := flag.Duration("per-packet-timeout", 3*time.Second, "deadline for each echo")
	flag.Parse()

	s := summary{Transport: *transport}
	err := run(&s, *server, *transport, *user, *pass, *realm, *count, *perPacket)
	if err != nil {
		s.Error = err.Error()
	}
	out, jerr := json.Marshal(&s)
	if jerr != nil {
		fmt.Fprintln(os.Stderr, jerr)
		os.Exit(2)
	}
	fmt.Println(string(out))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			os.Exit(3)
		}
		os.Exit(1)
	}
}
