// Command scalelite is a STAND-IN for Scalelite's images in the E2E tests
// (images cannot be pulled here): built static and put FROM scratch under
// Scalelite's real image names, it runs as the container the tag names,
// reading the environment file omc writes, so omc's units, env file and
// nginx site run unchanged.
//
//   - api: what bin/start does first (rake db:create: "already exists"
//     means db:migrate, else db:schema:load), against the real PostgreSQL
//     on the node with DATABASE_URL; then Scalelite's API (omc's fake of
//     it, pool/fake, with LOADBALANCER_SECRET and MULTITENANCY_ENABLED) on
//     BIND, and a published recording's files handed to nginx by
//     X-Accel-Redirect, as Scalelite's playback controller does.
//   - recording-importer: takes each MEETING.tar from the spool and
//     unpacks it into the published directory, as recordings:watch does
//     (without the database rows).
//   - poller: logs that it runs (polling is the fake's own model).
//
// Not Scalelite: no Rails, no Redis use, no recordings API.
package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omc-coop/omc/pool/fake"
)

const (
	spool     = "/var/bigbluebutton/spool"
	published = "/var/bigbluebutton/published"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: scalelite api|poller|recording-importer")
	}
	switch os.Args[1] {
	case "api":
		api()
	case "poller":
		for {
			log.Printf("STAND-IN poller: polling every %ss", os.Getenv("POLL_INTERVAL"))
			time.Sleep(time.Hour)
		}
	case "recording-importer":
		importer()
	default:
		log.Fatalf("unknown role %q", os.Args[1])
	}
}

func api() {
	if err := migrate(os.Getenv("DATABASE_URL")); err != nil {
		log.Fatalf("STAND-IN api: database: %v", err)
	}
	sl := fake.NewScaleliteHandler(os.Getenv("LOADBALANCER_SECRET"))
	sl.SetMultitenancyEnv(os.Getenv("MULTITENANCY_ENABLED"), os.Getenv("MULTITENANCY_ENABLED") != "")
	mux := http.NewServeMux()
	mux.Handle("/", sl)
	mux.HandleFunc("/presentation/", func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/presentation/")
		id, _, _ := strings.Cut(rest, "/")
		if id == "" || strings.Contains(id, "..") {
			http.NotFound(w, r)
			return
		}
		if _, err := os.Stat(filepath.Join(published, "presentation", id)); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Accel-Redirect", "/static-resource/presentation/"+rest)
	})
	bind := strings.TrimPrefix(os.Getenv("BIND"), "tcp://")
	if bind == "" {
		bind = "0.0.0.0:3000"
	}
	l, err := net.Listen("tcp", bind)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("STAND-IN api: Scalelite's API on %s for %s", bind, os.Getenv("URL_HOST"))
	log.Fatal(http.Serve(l, mux))
}

// migrate does what Scalelite's bin/start does before puma: create the
// database, and load the schema into a new one or migrate an old one.
func migrate(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil || dsn == "" {
		return fmt.Errorf("DATABASE_URL %q", dsn)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c *pgx.Conn
	for i := 0; ; i++ { // PostgreSQL may still be starting
		if c, err = pgx.Connect(ctx, admin.String()); err == nil || i == 20 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	c.Close(ctx)
	switch {
	case err != nil && strings.Contains(err.Error(), "already exists"):
		fmt.Println(">>> Database migration")
	case err != nil:
		return err
	default:
		fmt.Println(">>> Database initialization")
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	_, err = db.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version varchar PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('standin') ON CONFLICT DO NOTHING`)
	return err
}

func importer() {
	log.Printf("STAND-IN recording-importer: watching %s", spool)
	for {
		tars, _ := filepath.Glob(filepath.Join(spool, "*.tar"))
		for _, t := range tars {
			if err := unpack(t, published); err != nil {
				log.Printf("STAND-IN recording-importer: %s: %v", t, err)
				continue
			}
			os.Remove(t)
			log.Printf("STAND-IN recording-importer: imported %s", filepath.Base(t))
		}
		time.Sleep(2 * time.Second)
	}
}

func unpack(file, dst string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		}
	}
}
