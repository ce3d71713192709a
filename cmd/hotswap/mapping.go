package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"gopkg.in/yaml.v3"
)

// checkMigrationConfig reads the mapping and flag files. This build passes every key
// through to Redis: the DynamoDB path (key families) is not built yet, so a mapping
// that declares families is refused rather than silently ignored.
func checkMigrationConfig(cfg serveConfig, log *slog.Logger) error {
	if cfg.Mapping != "" {
		b, err := os.ReadFile(cfg.Mapping)
		if err != nil {
			return fmt.Errorf("mapping: %w", err)
		}
		var m struct {
			Table    string           `yaml:"table"`
			Families []map[string]any `yaml:"families"`
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("mapping %s: %w", cfg.Mapping, err)
		}
		if len(m.Families) > 0 {
			return fmt.Errorf("mapping %s declares %d key families, but this build of hotswap only passes keys through to Redis (the DynamoDB path is not implemented yet)", cfg.Mapping, len(m.Families))
		}
		log.Info("mapping loaded: no key families, every command goes to Redis", "file", cfg.Mapping, "table", m.Table)
	}
	if cfg.Flags != "" {
		b, err := os.ReadFile(cfg.Flags)
		if err != nil {
			return fmt.Errorf("flags: %w", err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("flags %s: not valid JSON: %w", cfg.Flags, err)
		}
		log.Info("flag file read; stages apply to key families, and none are configured", "file", cfg.Flags)
	}
	if cfg.DynamoDBEndpoint != "" {
		log.Info("dynamodb endpoint set; unused until key families are configured", "endpoint", cfg.DynamoDBEndpoint)
	}
	return nil
}
