package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/webhook"
)

// webhookFlags are the flags of webhook delivery; each has an environment
// variable, and docs/webhooks.md describes them. The signing-secret key is
// read from the environment only (SESSIOND_WEBHOOK_KEY), so it never shows
// in a process listing.
type webhookFlags struct {
	cfg      webhook.Config
	schedule string
}

// registerWebhookFlags adds the webhook flags to fs, with defaults from
// the environment (SESSIOND_WEBHOOK_*), falling back to webhook's defaults.
func registerWebhookFlags(fs *flag.FlagSet, getenv func(string) string) *webhookFlags {
	d := webhook.Config{}.WithDefaults()
	wf := &webhookFlags{}
	c := &wf.cfg
	c.Key = getenv("SESSIOND_WEBHOOK_KEY")
	boolVar := func(p *bool, name, env string, usage string) {
		v, _ := strconv.ParseBool(getenv(env))
		fs.BoolVar(p, name, v, usage+" ("+env+")")
	}
	intVar := func(p *int, name, env string, def int, usage string) {
		if v, err := strconv.Atoi(getenv(env)); err == nil {
			def = v
		}
		fs.IntVar(p, name, def, usage+" ("+env+")")
	}
	durVar := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		fs.DurationVar(p, name, envDuration(getenv, env, def), usage+" ("+env+")")
	}
	boolVar(&c.AllowInsecure, "webhook-allow-insecure", "SESSIOND_WEBHOOK_ALLOW_INSECURE", "DEVELOPMENT/TESTS: allow http:// webhook URLs and loopback, private and link-local addresses")
	boolVar(&c.Disabled, "webhook-no-dispatch", "SESSIOND_WEBHOOK_NO_DISPATCH", "record webhook deliveries but send none from this instance (another instance sends them)")
	durVar(&c.Timeout, "webhook-timeout", "SESSIOND_WEBHOOK_TIMEOUT", d.Timeout, "time allowed for one delivery attempt")
	durVar(&c.RotationOverlap, "webhook-rotation-overlap", "SESSIOND_WEBHOOK_ROTATION_OVERLAP", d.RotationOverlap, "how long a rotated webhook secret keeps signing alongside the new one")
	durVar(&c.FailingWindow, "webhook-disable-after", "SESSIOND_WEBHOOK_DISABLE_AFTER", d.FailingWindow, "disable an endpoint whose deliveries all failed for this long")
	durVar(&c.Lease, "webhook-lease", "SESSIOND_WEBHOOK_LEASE", 0, "how long an instance holds a claimed delivery; a dead instance's claims are retaken after it (default: 10 × -webhook-timeout)")
	durVar(&c.Poll, "webhook-poll", "SESSIOND_WEBHOOK_POLL", d.Poll, "how often the outbox is checked for due retries and other instances' deliveries")
	intVar(&c.Concurrency, "webhook-concurrency", "SESSIOND_WEBHOOK_CONCURRENCY", d.Concurrency, "delivery attempts in flight per instance")
	intVar(&c.PerEndpoint, "webhook-per-endpoint", "SESSIOND_WEBHOOK_PER_ENDPOINT", d.PerEndpoint, "delivery attempts in flight per endpoint and instance")
	def := getenv("SESSIOND_WEBHOOK_SCHEDULE")
	if def == "" {
		def = formatSchedule(webhook.DefaultSchedule)
	}
	fs.StringVar(&wf.schedule, "webhook-schedule", def, "comma-separated delays before each delivery attempt (SESSIOND_WEBHOOK_SCHEDULE)")
	return wf
}

// resolve turns the parsed flags into the app's webhook configuration.
func (wf *webhookFlags) resolve() (webhook.Config, error) {
	c := wf.cfg
	for _, part := range strings.Split(wf.schedule, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return c, fmt.Errorf("-webhook-schedule: %q is not a duration such as 5s or 2h", part)
		}
		c.Schedule = append(c.Schedule, d)
	}
	if c.Concurrency < 1 || c.PerEndpoint < 1 {
		return c, fmt.Errorf("-webhook-concurrency and -webhook-per-endpoint must be at least 1")
	}
	if c.Lease != 0 && c.Lease <= c.Timeout {
		return c, fmt.Errorf("-webhook-lease must be longer than -webhook-timeout")
	}
	return c, nil
}

func formatSchedule(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
