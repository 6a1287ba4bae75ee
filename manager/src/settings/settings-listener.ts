// Follows other managers' setting changes on PostgreSQL: each notification on SETTINGS_CHANNEL
// re-reads the named setting; after a lost notification connection every setting is re-read,
// since notifications sent meanwhile are gone. The connection is the manager's one
// PgNotificationListener (db/pg-notification-listener.ts), shared with command routing.
import type { Logger } from "pino";
import { PgNotificationListener } from "../db/pg-notification-listener.js";
import { SETTINGS_CHANNEL, type SettingsService } from "./settings-service.js";

type Settings = Pick<SettingsService, "reload" | "reloadAll">;

/** Subscribes the settings to a listener (before it starts). */
export function followSettingChanges(listener: PgNotificationListener, settings: Settings, log: Pick<Logger, "warn" | "info">): void {
  listener.on(SETTINGS_CHANNEL, "settings", (name) => settings.reload(name, (m) => log.warn(m)));
  listener.onReconnected("settings", async () => {
    log.info("re-reading every setting after the notification connection was lost");
    await settings.reloadAll((m) => log.warn(m));
  });
}

export interface SettingsListenerOptions {
  url: string;
  settings: Settings;
  log: Pick<Logger, "warn" | "info">;
  /** Backoff between reconnect attempts (ms): doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** A listener of its own that follows settings only. */
export class SettingsListener {
  private readonly listener: PgNotificationListener;

  constructor(o: SettingsListenerOptions) {
    this.listener = new PgNotificationListener({
      url: o.url, log: o.log,
      ...(o.retryMinMs !== undefined ? { retryMinMs: o.retryMinMs } : {}),
      ...(o.retryMaxMs !== undefined ? { retryMaxMs: o.retryMaxMs } : {}),
    });
    followSettingChanges(this.listener, o.settings, o.log);
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }
}
