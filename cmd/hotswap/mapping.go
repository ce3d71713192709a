package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"hotswap/dual"
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
}

// openMigration loads the mapping and, when it declares families, connects to DynamoDB
// and builds the engine.
func openMigration(ctx context.Context, cfg serveConfig, redis *upstream.Pool, log *slog.Logger) (*migration, error) {
	mg := &migration{}
	if cfg.Flags != "" {
		b, err := os.ReadFile(cfg.Flags)
		if err != nil {
			return nil, fmt.Errorf("flags: %w", err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("flags %s: not valid JSON: %w", cfg.Flags, err)
		}
		log.Info("flag file read; this build serves each family at its mapping floor stage (stage flags are not wired yet)", "file", cfg.Flags)
	}
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

	mg.client, err = dynamo.Open(ctx, dynamo.Options{
		Endpoint:    cfg.DynamoDBEndpoint,
		Region:      cfg.Region,
		DAXEndpoint: cfg.DAXEndpoint,
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	mg.engine, err = translate.NewEngine(translate.Options{
		Mapping:  m,
		DB:       mg.client.DB(),
		Eventual: mg.client.Eventual(),
		Logger:   log,
		Timeout:  cfg.DynamoTimeout,
	})
	if err != nil {
		_ = mg.client.Close()
		return nil, err
	}
	mg.syncer = dual.New(dual.Options{
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
	if cerr := mg.client.Close(); err == nil {
		err = cerr
	}
	return err
}
