// Package app wires sessiond together: it opens the database, builds the
// domain services and the HTTP handler. server.go and the tests both build
// the service through Open, so tests exercise the production wiring.
package app

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/graph"
	"github.com/sessiond/sessiond/internal/auth"
	"github.com/sessiond/sessiond/internal/clock"
	"github.com/sessiond/sessiond/internal/directory"
)

// Config configures one sessiond instance.
type Config struct {
	// Database is a SQLite file path (see db.Config.DSN).
	Database string
	// AdminKey fixes the admin key; empty means generate and store one.
	AdminKey string
	// AllowedOrigins are browser origins allowed besides same-origin and localhost.
	AllowedOrigins []string
	Logger         *slog.Logger
	// Clock is the time source; nil means the wall clock.
	Clock clock.Clock
}

// App is a running sessiond instance without its listener.
type App struct {
	Handler   http.Handler
	Store     *db.DB
	AdminKeys *auth.AdminKeys
}

// Open opens the database, applies migrations and builds the services.
func Open(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	store, err := db.Open(ctx, db.Config{DSN: cfg.Database, Logger: cfg.Logger, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	keys, err := auth.NewAdminKeys(store, cfg.AdminKey)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	h := graph.NewHandler(graph.Deps{Store: store, Directory: directory.New(store), AdminKeys: keys}, graph.Options{
		Logger: cfg.Logger, AllowedOrigins: cfg.AllowedOrigins,
	})
	return &App{Handler: h, Store: store, AdminKeys: keys}, nil
}

// Close releases the database.
func (a *App) Close() error { return a.Store.Close() }
