-- CloudStack's names for the heartbeat settings (issue #14): agent.heartbeat.interval.ms (ms)
-- becomes ping.interval (seconds); host.heartbeat.miss.factor becomes ping.timeout (same unit).
UPDATE "settings" SET "name" = 'ping.interval', "value" = to_jsonb((("value" #>> '{}')::numeric / 1000)::double precision)
  WHERE "name" = 'agent.heartbeat.interval.ms';--> statement-breakpoint
UPDATE "settings" SET "name" = 'ping.timeout' WHERE "name" = 'host.heartbeat.miss.factor';
