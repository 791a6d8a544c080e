// Command pionwebrtc drives pion/webrtc v3 (the WebRTC stack NetBird and
// many Go clients ride on) through a TURN server: two PeerConnections in one
// process, ICE transport policy "relay", ICE servers as the ICE API gives
// them. Over the DataChannel they pass numbered messages and a 1 MiB blob
// (in chunks the SCTP message limit allows), each checked on arrival. It
// prints one JSON summary line and exits non-zero on any failure, so
// tests/interop/test_pion_webrtc.py asserts on real outcomes.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

type summary struct {
	LocalCandidate  string `json:"local_candidate"`
	RemoteCandidate string `json:"remote_candidate"`
	Messages        int    `json:"messages"`
	BlobBytes       int    `json:"blob_bytes"`
	BlobIntact      bool   `json:"blob_intact"`
	Millis          int64  `json:"millis"`
	Error           string `json:"error,omitempty"`
}

const chunk = 16 * 1024

// api has pion/ice's mDNS off. By default (QueryOnly) every agent joins
// 224.0.0.251 on every interface to resolve .local candidates: the IGMP
// join and leave went out on eth0, off loopback, and showed up in the
// Chromium test's capture when the two ran side by side. Relay-only
// candidates never need it.
var api = func() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}()

func newPC(servers []webrtc.ICEServer) (*webrtc.PeerConnection, error) {
	return api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         servers,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
}

// signal runs offer/answer in process, each side's candidates gathered first.
func signal(offerer, answerer *webrtc.PeerConnection) error {
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		return err
	}
	done := webrtc.GatheringCompletePromise(offerer)
	if err = offerer.SetLocalDescription(offer); err != nil {
		return err
	}
	<-done
	if err = answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		return err
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		return err
	}
	done = webrtc.GatheringCompletePromise(answerer)
	if err = answerer.SetLocalDescription(answer); err != nil {
		return err
	}
	<-done
	return offerer.SetRemoteDescription(*answerer.LocalDescription())
}

// received is what the answering side saw, in order.
type received struct {
	msgs  []string
	blob  bytes.Buffer
	final string
	done  chan struct{}
}

func run(servers []webrtc.ICEServer, count, blobSize int, timeout time.Duration) (summary, error) {
	var s summary
	start := time.Now()
	a, err := newPC(servers)
	if err != nil {
		return s, err
	}
	defer a.Close()
	b, err := newPC(servers)
	if err != nil {
		return s, err
	}
	defer b.Close()

	rx := &received{done: make(chan struct{})}
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			switch {
			case m.IsString && len(rx.msgs) < count:
				rx.msgs = append(rx.msgs, string(m.Data))
			case m.IsString:
				rx.final = string(m.Data)
				close(rx.done)
			default:
				rx.blob.Write(m.Data)
			}
		})
	})
	dc, err := a.CreateDataChannel("interop", nil)
	if err != nil {
		return s, err
	}
	open := make(chan struct{})
	dc.OnOpen(func() { close(open) })
	if err = signal(a, b); err != nil {
		return s, fmt.Errorf("signalling: %w", err)
	}
	select {
	case <-open:
	case <-time.After(timeout):
		return s, errors.New("the DataChannel did not open (no relay pair connected)")
	}
	pair, err := a.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return s, fmt.Errorf("no selected candidate pair: %v", err)
	}
	s.LocalCandidate = pair.Local.String()
	s.RemoteCandidate = pair.Remote.String()

	for i := 0; i < count; i++ {
		if err = dc.SendText(fmt.Sprintf("message %d", i)); err != nil {
			return s, err
		}
	}
	blob := make([]byte, blobSize)
	rand.New(rand.NewSource(42)).Read(blob)
	// Flow control: wait while more than 1 MiB is queued.
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(256 * 1024)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	for off := 0; off < len(blob); off += chunk {
		end := off + chunk
		if end > len(blob) {
			end = len(blob)
		}
		for dc.BufferedAmount() > 1024*1024 {
			select {
			case <-low:
			case <-time.After(timeout):
				return s, errors.New("send buffer never drained")
			}
		}
		if err = dc.Send(blob[off:end]); err != nil {
			return s, err
		}
	}
	sum := sha256.Sum256(blob)
	if err = dc.SendText(fmt.Sprintf("end %x", sum)); err != nil {
		return s, err
	}
	select {
	case <-rx.done:
	case <-time.After(timeout):
		return s, fmt.Errorf("only %d messages and %d blob bytes arrived", len(rx.msgs),
			rx.blob.Len())
	}
	for i, m := range rx.msgs {
		if m != fmt.Sprintf("message %d", i) {
			return s, fmt.Errorf("message %d arrived as %q", i, m)
		}
	}
	s.Messages = len(rx.msgs)
	s.BlobBytes = rx.blob.Len()
	got := sha256.Sum256(rx.blob.Bytes())
	s.BlobIntact = rx.final == fmt.Sprintf("end %x", sum) && got == sum
	s.Millis = time.Since(start).Milliseconds()
	return s, nil
}

func main() {
	ice := flag.String("ice", "", "JSON array of ICE servers (the ICE API's ice_servers)")
	count := flag.Int("count", 100, "numbered text messages")
	blob := flag.Int("blob", 1<<20, "blob bytes")
	timeout := flag.Duration("timeout", 30*time.Second, "each wait's deadline")
	flag.Parse()

	var servers []webrtc.ICEServer
	s := summary{}
	err := json.Unmarshal([]byte(*ice), &servers)
	if err == nil {
		s, err = run(servers, *count, *blob, *timeout)
	}
	if err != nil {
		s.Error = err.Error()
	}
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}
