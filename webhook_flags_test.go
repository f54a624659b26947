package main

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestWebhookFlags(t *testing.T) {
	parse := func(env map[string]string, args ...string) (*webhookFlags, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		wf := registerWebhookFlags(fs, func(k string) string { return env[k] })
		return wf, fs.Parse(args)
	}
	t.Run("defaults are the spec's schedule, 15 s, 24 h overlap, secure", func(t *testing.T) {
		wf, _ := parse(nil)
		c, err := wf.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Schedule) != 10 || c.Schedule[1] != 5*time.Second || c.Schedule[9] != 24*time.Hour || c.Timeout != 15*time.Second ||
			c.RotationOverlap != 24*time.Hour || c.AllowInsecure || c.Key != "" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("environment, then flags", func(t *testing.T) {
		wf, _ := parse(map[string]string{"SESSIOND_WEBHOOK_ALLOW_INSECURE": "true", "SESSIOND_WEBHOOK_KEY": "k", "SESSIOND_WEBHOOK_TIMEOUT": "3s"},
			"-webhook-schedule", "0s, 1s,1m", "-webhook-timeout", "4s")
		c, err := wf.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if !c.AllowInsecure || c.Key != "k" || c.Timeout != 4*time.Second || len(c.Schedule) != 3 || c.Schedule[2] != time.Minute {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("bad values are refused", func(t *testing.T) {
		for _, args := range [][]string{{"-webhook-schedule", "soon"}, {"-webhook-concurrency", "0"}, {"-webhook-lease", "1s", "-webhook-timeout", "2s"}} {
			wf, err := parse(nil, args...)
			if err == nil {
				_, err = wf.resolve()
			}
			if err == nil {
				t.Errorf("%v accepted", args)
			}
		}
	})
}
