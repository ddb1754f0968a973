package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// clusterContainerImage is the image of the testcontainers fallback.
const clusterContainerImage = "postgres:17-alpine"

// errClusterNoDocker marks a container start that failed because Docker is
// not reachable (or the container could not be had at all).
var errClusterNoDocker = errors.New("pgtest: docker not reachable")

// clusterStartContainer starts PostgreSQL in a container with the same
// server settings as a managed cluster where the image allows them (no TLS,
// no custom pg_hba.conf, only the superuser), so the result is unmanaged.
// testcontainers' reaper removes the container if this process dies.
func clusterStartContainer(ctx context.Context) (c *Cluster, err error) {
	defer func() {
		// testcontainers panics in some paths when no Docker host exists.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%w: %v", errClusterNoDocker, r)
		}
	}()
	quiet := testcontainers.WithLogger(tclog.NewNoopLogger())
	provider, err := testcontainers.ProviderDefault.GetProvider(quiet)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errClusterNoDocker, err)
	}
	if err := provider.Health(ctx); err != nil { // Health also closes the provider
		return nil, fmt.Errorf("%w: %w", errClusterNoDocker, err)
	}

	ctr, err := tcpostgres.Run(ctx, clusterContainerImage,
		quiet,
		tcpostgres.WithUsername(string(RoleSuperuser)),
		tcpostgres.WithPassword(PasswordSuperuser),
		tcpostgres.WithDatabase("postgres"),
		testcontainers.WithCmd("postgres",
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "wal_level=logical",
			"-c", "max_wal_senders=10",
			"-c", "max_replication_slots=10",
			"-c", "max_prepared_transactions=10",
			"-c", "max_connections=200",
		),
		tcpostgres.BasicWaitStrategies(),
	)
	terminate := func() {
		if ctr != nil {
			_ = ctr.Terminate(context.WithoutCancel(ctx))
		}
	}
	if err != nil {
		terminate()
		return nil, fmt.Errorf("%w: start container: %w", errClusterNoDocker, err)
	}
	host, err := ctr.Host(ctx)
	if err != nil {
		terminate()
		return nil, fmt.Errorf("pgtest: container host: %w", err)
	}
	mapped, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		terminate()
		return nil, fmt.Errorf("pgtest: container port: %w", err)
	}
	port := int(mapped.Num())
	address := net.JoinHostPort(host, strconv.Itoa(port))
	c = &Cluster{
		source: clusterSourceContainer,
		host:   host,
		port:   port,
		admin: AdminConfig{
			Network:  "tcp",
			Address:  address,
			User:     string(RoleSuperuser),
			Password: PasswordSuperuser,
			Database: "postgres",
		},
		urlBase: url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword(string(RoleSuperuser), PasswordSuperuser),
			Host:     address,
			RawQuery: "sslmode=disable",
		},
		stopFunc: func(ctx context.Context) error {
			if err := ctr.Terminate(ctx); err != nil {
				return fmt.Errorf("pgtest: terminate container: %w", err)
			}
			return nil
		},
	}
	ac, err := AdminConnect(ctx, c.admin)
	if err != nil {
		terminate()
		return nil, err
	}
	defer func() { _ = ac.Close(ctx) }()
	if err := c.clusterLoadVersion(ctx, ac); err != nil {
		terminate()
		return nil, fmt.Errorf("pgtest: container: %w", err)
	}
	return c, nil
}
