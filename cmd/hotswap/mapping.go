package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"hotswap/dual"
	"hotswap/flags"
	"hotswap/fleet"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/resp"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// migration is the DynamoDB side of `hotswap serve`: the mapping, the DynamoDB client
// and the engine that runs commands on family keys. A zero migration (no mapping, or
// a mapping without families) leaves every command to Redis.
type migration struct {
	mapping *translate.Mapping
	client  *dynamo.Client
	engine  *translate.Engine
	syncer  *dual.Syncer // copies writes to the other store while both hold a family
	shadow  *dual.Shadow // compares reads with the other store (shadow, live)
	stages  flags.Source // each family's entity's stage; nil: the floors
	fence   *fleet.Fence // stages fenced by the fleet registry (set with a flag source)
}

// openMigration loads the mapping and, when it declares families, connects to DynamoDB
// and builds the engine.
func openMigration(ctx context.Context, cfg serveConfig, redis *upstream.Pool, log *slog.Logger) (*migration, error) {
	mg := &migration{}
	if cfg.Mapping == "" {
		return mg, nil
	}
	m, err := translate.LoadMapping(cfg.Mapping)
	if err != nil {
		return nil, err
	}
	mg.mapping = m
	if len(m.Families) == 0 {
		log.Info("mapping loaded: no key families, every command goes to Redis", "file", cfg.Mapping, "table", m.Table)
		return mg, nil
	}

	var src *flags.OpenFeature
	switch {
	case cfg.Flags != "" && cfg.Flagd != "":
		return nil, usageError{errors.New("--flags and --flagd: give one flag source")}
	case cfg.Flags != "":
		if src, err = flags.OpenFile(ctx, cfg.Flags, log); err == nil {
			waitFlags(ctx, src, log)
		}
	case cfg.Flagd != "":
		if src, err = flags.OpenFlagd(ctx, cfg.Flagd, log); err == nil {
			waitFlags(ctx, src, log)
		}
	default:
		log.Info("no flag source (--flags, --flagd): every family is served at its mapping floor")
	}
	if err != nil {
		return nil, err
	}
	mg.client, err = dynamo.Open(ctx, dynamo.Options{
		Endpoint:    cfg.DynamoDBEndpoint,
		Region:      cfg.Region,
		DAXEndpoint: cfg.DAXEndpoint,
		Logger:      log,
		APIOptions:  cfg.obs.AWSOptions(), // tracing (observe.go)
	})
	if err != nil {
		if src != nil {
			_ = src.Close()
		}
		return nil, err
	}
	mg.engine, err = translate.NewEngine(translate.Options{
		Mapping:  m,
		DB:       mg.client.DB(),
		Eventual: mg.client.Eventual(),
		Logger:   log,
		Timeout:  cfg.DynamoTimeout,
		Calls:    cfg.obs.Calls(), // latency histograms (observe.go)
	})
	if err != nil {
		_ = mg.client.Close()
		if src != nil {
			_ = src.Close()
		}
		return nil, err
	}
	if src != nil {
		mg.fence = fleet.New(fleet.Options{
			Flags:    src,
			Registry: fleet.NewRegistry(mg.client.DB(), m.Table),
			Mapping:  m,
			ID:       fleetID(cfg.FleetID),
			Host:     hostName(),
			Version:  version,
			Interval: cfg.FleetInterval,
			Drain:    cfg.FleetDrain,
			Logger:   log,
			Outstanding: func(ctx context.Context, match func([]byte, *translate.Route) bool) (int, error) {
				return mg.syncer.Outstanding(ctx, match)
			},
		})
		mg.stages = mg.fence
	}
	stage := func(r *translate.Route) translate.Stage { return r.Family.Floor }
	if mg.stages != nil {
		src := mg.stages
		stage = func(r *translate.Route) translate.Stage { return src.Stage(ctx, r.Family, r.Entity) }
	}
	mg.syncer = dual.New(dual.Options{
		Stage:  stage,
		Engine: mg.engine,
		Redis:  dual.RedisFunc(func(ctx context.Context, cmd []byte) (resp.Value, error) { return redis.Do(ctx, cmd) }),
		Logger: log,
	})
	mg.shadow = dual.NewShadow(dual.ShadowOptions{
		Engine:     mg.engine,
		Redis:      dual.RedisFunc(func(ctx context.Context, cmd []byte) (resp.Value, error) { return redis.Do(ctx, cmd) }),
		Syncer:     mg.syncer,
		Logger:     log,
		SampleRate: cfg.ShadowSample,
		LogValues:  cfg.LogValues,
	})
	if mg.fence != nil {
		mg.fence.Start(ctx)
		if src.Ready() == nil { // else the flags gate family keys anyway (and have waited)
			waitFlags(ctx, mg.fence, log)
		}
	}
	for _, f := range m.Families {
		log.Info("key family", "name", f.Name, "match", f.Match, "type", f.Kind.String(), "stage", f.Floor.String(), "read", readName(f.Read))
	}
	log.Info("mapping loaded", "file", cfg.Mapping, "table", m.Table, "families", len(m.Families))
	return mg, nil
}

func readName(c translate.Consistency) string {
	if c == translate.Eventual {
		return "eventual"
	}
	return "strong"
}

// Close waits (up to ctx) for the copies in flight, then releases the DynamoDB client.
// What the copies could not finish stays in the journal.
func (mg *migration) Close(ctx context.Context) error {
	if mg == nil || mg.client == nil {
		return nil
	}
	var err error
	if mg.syncer != nil {
		err = mg.syncer.Close(ctx)
	}
	if mg.stages != nil {
		_ = mg.stages.Close()
	}
	if cerr := mg.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// stageSource is what the proxy asks for stages (nil without a flag source: floors).
func (mg *migration) stageSource() proxy.StageSource {
	if mg.stages == nil {
		return nil
	}
	return mg.stages
}

// waitFlags gives the flags a few seconds to load before clients are accepted; past
// that hotswap serves anyway, and commands on family keys get an error until they
// load (/readyz says why).
func waitFlags(ctx context.Context, src interface{ WaitReady(context.Context) error }, log *slog.Logger) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := src.WaitReady(wctx); err != nil {
		log.Warn("stage flags not loaded yet: commands on key families get an error until they are", "err", err)
	}
}
