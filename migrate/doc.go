// Package migrate will hold the phased (expand / backfill / contract)
// migrator, built on package conn and on package schema for diffs.
//
// # Overview
//
// migrate sits above schema and below the CLI. It holds no code yet; later
// issues fill it.
package migrate
