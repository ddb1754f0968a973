package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgstrict/pgstrict/pool"
)

// clientPgxpool names pgx's pgxpool in the pool benchmarks.
const clientPgxpool = "pgxpool"

// benchPoolSize is MaxConns of both pools: twice the default parallelism
// of b.RunParallel on the 2-core reference machine, so that the pools are
// contended but acquires rarely wait for a connection.
const benchPoolSize = 4

// poolClients are the pools the pool benchmarks compare.
func poolClients() []string { return clientOrder(clientPgstrict, clientPgxpool) }

// benchPool is one pool under test. Both implementations run the same
// statement at the same layer: pgstrict's conn.ResultReader and pgconn's,
// through the pool's handle.
type benchPool interface {
	// acquireRelease borrows a connection and gives it back unused.
	acquireRelease(ctx context.Context) error
	// acquireQuery borrows a connection, runs "select $1::int" with params
	// through the extended protocol, reads the one value and releases it.
	acquireQuery(ctx context.Context, params [][]byte) (string, error)
	close()
}

// openPool creates a pool of benchPoolSize connections to dsn with every
// connection opened before it returns, so that dialing is not measured.
func openPool(tb testing.TB, client, dsn string) benchPool {
	tb.Helper()
	ctx := context.Background()
	var bp benchPool
	switch client {
	case clientPgstrict:
		cfg, err := pool.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.MaxConns = benchPoolSize
		cfg.MinConns = benchPoolSize
		p, err := pool.New(ctx, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		bp = &pgstrictPool{p: p}
	case clientPgxpool:
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.MaxConns = benchPoolSize
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		// Open every connection now (pgxpool opens MinConns in the
		// background, so warm it by hand).
		var held []*pgxpool.Conn
		for range benchPoolSize {
			c, err := p.Acquire(ctx)
			if err != nil {
				tb.Fatal(err)
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Release()
		}
		bp = &pgxPool{p: p}
	default:
		tb.Fatalf("bench: unknown pool client %q", client)
	}
	tb.Cleanup(bp.close)
	return bp
}

type pgstrictPool struct{ p *pool.Pool }

func (bp *pgstrictPool) acquireRelease(ctx context.Context) error {
	h, err := bp.p.Acquire(ctx)
	if err != nil {
		return err
	}
	h.Release()
	return nil
}

func (bp *pgstrictPool) acquireQuery(ctx context.Context, params [][]byte) (string, error) {
	h, err := bp.p.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.Release()
	rr := h.ExecParams(ctx, "select $1::int", params, nil, nil, nil)
	var v string
	for rr.NextRow() {
		v = string(rr.Values()[0])
	}
	_, err = rr.Close()
	return v, err
}

func (bp *pgstrictPool) close() { bp.p.Close(context.Background()) }

type pgxPool struct{ p *pgxpool.Pool }

func (bp *pgxPool) acquireRelease(ctx context.Context) error {
	c, err := bp.p.Acquire(ctx)
	if err != nil {
		return err
	}
	c.Release()
	return nil
}

func (bp *pgxPool) acquireQuery(ctx context.Context, params [][]byte) (string, error) {
	c, err := bp.p.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer c.Release()
	rr := c.Conn().PgConn().ExecParams(ctx, "select $1::int", params, nil, nil, nil)
	var v string
	for rr.NextRow() {
		v = string(rr.Values()[0])
	}
	_, err = rr.Close()
	return v, err
}

func (bp *pgxPool) close() { bp.p.Close() }

// BenchmarkPoolAcquireRelease borrows a connection and gives it back, from
// every b.RunParallel goroutine: the pool's own overhead under contention,
// with no I/O.
func BenchmarkPoolAcquireRelease(b *testing.B) {
	dsn := serverDSN(b)
	for _, client := range poolClients() {
		b.Run(client, func(b *testing.B) {
			bp := openPool(b, client, dsn)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bp.acquireRelease(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPoolAcquireQueryRelease borrows a connection, runs "select
// $1::int" (Parse, Bind, Describe, Execute, Sync), checks the value and
// releases it, from every b.RunParallel goroutine: the round trip dominates,
// the pool adds its acquire, its release checks and its bookkeeping.
func BenchmarkPoolAcquireQueryRelease(b *testing.B) {
	dsn := serverDSN(b)
	params := [][]byte{[]byte("42")}
	for _, client := range poolClients() {
		b.Run(client, func(b *testing.B) {
			bp := openPool(b, client, dsn)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					v, err := bp.acquireQuery(ctx, params)
					if err == nil && v != "42" {
						err = errors.New("got " + v)
					}
					if err != nil {
						b.Error(fmt.Errorf("%s: %w", client, err))
						return
					}
				}
			})
		})
	}
}
