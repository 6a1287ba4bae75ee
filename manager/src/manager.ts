// Composition root of the manager: database, settings, agent gateway, jobs, allocator, API.
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { createManagerLogger } from "./logging.js";
import { AgentGateway, tokenMatcher } from "./agents/agent-gateway.js";
import { AgentSessions } from "./agents/agent-sessions.js";
import { CommandDispatcher } from "./agents/command-dispatcher.js";
import { CommandRouter } from "./agents/command-router.js";
import { PeerManagers, defaultAgentAddress } from "./agents/manager-instances.js";
import { PgNotificationListener } from "./db/pg-notification-listener.js";
import { adminRoutes } from "./api/admin/admin.routes.js";
import { hostCertificateRoutes } from "./api/admin/host-certificates.routes.js";
import { registrationTokenRoutes } from "./api/admin/registration-tokens.routes.js";
import { catalogRoutes } from "./api/hyperstack/catalog.routes.js";
import { jobRoutes } from "./api/hyperstack/jobs.routes.js";
import { vmIsoRoutes } from "./api/hyperstack/vm-iso.routes.js";
import { VmIsos } from "./vm/vm-iso.js";
import { vmActionRoutes } from "./api/hyperstack/vm-actions.routes.js";
import { virtualMachineRoutes } from "./api/hyperstack/virtual-machines.routes.js";
import { securityRuleRoutes } from "./api/hyperstack/security-rules.routes.js";
import { SecurityRuleService } from "./security-rules/security-rule-service.js";
import { vmFirewallJob } from "./jobs/vm-firewall.job.js";
import { VM_ISO_JOB, vmIsoJob } from "./jobs/vm-iso.job.js";
import { VM_SCALE_JOB, vmScaleJob } from "./jobs/vm-scale.job.js";
import { vmMigrateJob } from "./jobs/vm-migrate.job.js";
import { MigrationService, VM_MIGRATE_JOB } from "./migration/migration-service.js";
import { onMigrationProgress } from "./migration/migration-progress.js";
import { onMigrateJobFailed } from "./migration/migration-settle.js";
import { migrationRoutes } from "./api/admin/migrations.routes.js";
import { onSnapshotJobFailed, vmSnapshotJob } from "./jobs/vm-snapshot.job.js";
import { VM_SNAPSHOT_JOB_KINDS, VmSnapshots } from "./vm/vm-snapshots.js";
import { snapshotRoutes } from "./api/hyperstack/snapshots.routes.js";
import { affinityGroupRoutes } from "./api/hyperstack/affinity-groups.routes.js";
import { flavorAdminRoutes } from "./api/admin/flavors.routes.js";
import { hostAdminRoutes } from "./api/admin/host-admin.routes.js";
import { keypairRoutes } from "./api/hyperstack/keypairs.routes.js";
import { environmentRoutes } from "./api/hyperstack/environments.routes.js";
import { EnvironmentQuotaService } from "./environments/environment-quota.js";
import { EnvironmentService } from "./environments/environment-service.js";
import { KeyPairService } from "./keypairs/keypair-service.js";
import { CatalogService } from "./catalog/catalog-service.js";
import { accountRoutes } from "./api/admin/accounts.routes.js";
import { apiKeyRoutes } from "./api/hyperstack/api-keys.routes.js";
import { authMeRoutes } from "./api/hyperstack/auth-me.routes.js";
import { userRoutes } from "./api/admin/users.routes.js";
import { AccountService, defaultAccountLimits, defineAccountSettings } from "./auth/account-service.js";
import { vmMetricsRoutes } from "./api/hyperstack/vm-metrics.routes.js";
import { vmLogsRoutes } from "./api/hyperstack/vm-logs.routes.js";
import { vmConsoleRoutes } from "./api/hyperstack/vm-console.routes.js";
import { consoleSocketRoutes, type ConsoleLocator } from "./api/console-socket.routes.js";
import { ConsoleRelay } from "./console/console-relay.js";
import { ConsoleTokens } from "./console/console-tokens.js";
import { followConsoleCloses, VmConsoles } from "./console/vm-consoles.js";
import { CONSOLE_SETTINGS, CONSOLE_TOKEN_TTL_SETTING } from "./console/console-settings.js";
import { METRICS_RETENTION_SETTING, VmMetricsService } from "./monitoring/vm-metrics-service.js";
import { VmConsoleLogs } from "./monitoring/vm-console-logs.js";
import { ManagerMetrics } from "./monitoring/manager-metrics.js";
import { withHeartbeatMetrics } from "./monitoring/heartbeat-metrics.js";
import { startMetricsHttpServer } from "#shared/metrics-http-server.js";
import { FlavorService } from "./catalog/flavor-service.js";
import { AffinityGroupService } from "./placement/affinity-group-service.js";
import { HostAdmin } from "./placement/host-admin.js";
import { HOST_MAINTENANCE_JOB, HostMaintenance } from "./hosts/host-maintenance.js";
import { hostMaintenanceJob, onMaintenanceJobFailed } from "./hosts/host-maintenance.job.js";
import { HostRemoval } from "./hosts/host-removal.js";
import type { VmMover } from "./hosts/vm-mover.js";
import { buildApiServer } from "./api/server.js";
import { IdempotencyStore } from "./idempotency/idempotency-store.js";
import { ApiKeyService } from "./auth/api-key-service.js";
import { UserService } from "./auth/user-service.js";
import { seedCatalog } from "./catalog/catalog-seed.js";
import type { ManagerConfig } from "./config.js";
import { openDatabase, type Database } from "./db/database.js";
import { HostLiveness, LIVENESS_SETTINGS } from "./hosts/host-liveness.js";
import { DatabaseHealth } from "./db/database-health.js";
import { sql } from "drizzle-orm";
import { HostService } from "./hosts/host-service.js";
import { loadOrCreateCertificateAuthority } from "./security/ca-store.js";
import { gatewayServerCredentials } from "./security/grpc-tls-credentials.js";
import { HostCertificateService } from "./security/host-certificate-service.js";
import { HostEnrollment } from "./security/host-enrollment.js";
import { RegistrationTokenService } from "./security/registration-token-service.js";
import { JobRunner } from "./jobs/job-runner.js";
import { ClusterDuties, DUTY_NAMES, type Duty } from "./cluster/duties.js";
import { ManagerInstances, newManagerIdentity } from "./cluster/manager-instances.js";
import { managerRoutes } from "./api/admin/managers.routes.js";
import { imageDownloadJob, onImageJobFailed } from "./jobs/image-download.job.js";
import { ImageService, IMAGE_DOWNLOAD_JOB } from "./catalog/image-service.js";
import { IMAGE_SETTINGS } from "./catalog/image-settings.js";
import { imageAdminRoutes } from "./api/admin/images.routes.js";
import { openImageStore } from "./catalog/image-store.js";
import { StoredImageFiles } from "./catalog/image-files.js";
import { JobService } from "./jobs/job-service.js";
import { vmDeployJob } from "./jobs/vm-deploy.job.js";
import { vmDestroyJob } from "./jobs/vm-destroy.job.js";
import { VM_POWER_JOB_KINDS, vmPowerJob } from "./jobs/vm-power.job.js";
import { VM_CLONE_JOB_KINDS, vmCloneJob } from "./jobs/vm-clone.job.js";
import { VM_REINSTALL_JOB_KINDS, vmReinstallJob } from "./jobs/vm-reinstall.job.js";
import { onVmJobFailed } from "./jobs/vm-job-failure.js";
import { onVolumeJobFailed, VOLUME_JOB_KINDS, volumeJob } from "./jobs/volume.job.js";
import { storagePoolRoutes } from "./api/admin/storage-pools.routes.js";
import { volumeRoutes } from "./api/hyperstack/volumes.routes.js";
import { StoragePoolService } from "./storage/storage-pool-service.js";
import { VolumeService } from "./storage/volume-service.js";
import { AccountUsageCompaction } from "./placement/account-usage-compaction.js";
import { PlacementService } from "./placement/placement-service.js";
import { AllocationSettings } from "./placement/allocation-settings.js";
import { SettingsRegistry } from "./settings/settings-registry.js";
import { SettingsService } from "./settings/settings-service.js";
import { followSettingChanges } from "./settings/settings-listener.js";
import { settingsRoutes } from "./api/admin/settings.routes.js";
import { VmReconciler } from "./vm/vm-reconciler.js";
import { ReconcileOnChange } from "./vm/reconcile-on-change.js";
import { HEARTBEAT_FLUSH_TICK_MS, HeartbeatCoalescer } from "./hosts/heartbeat-coalescer.js";
import type { AgentSettings } from "#shared/protocol.js";
import { hostHaRoutes } from "./api/admin/host-ha.routes.js";
import { CrashRestarts } from "./ha/crash-restarts.js";
import { HaLoop } from "./ha/ha-loop.js";
import { HA_SETTINGS, HaSettings } from "./ha/ha-settings.js";
import { HostFailover } from "./ha/host-failover.js";
import { HostInvestigator } from "./ha/host-investigator.js";
import { StaleCopies } from "./ha/stale-copies.js";
import { VmHa } from "./ha/vm-ha.js";
import { VmActions } from "./vm/vm-actions.js";
import { VmClones } from "./vm/vm-clone.js";
import { VmService } from "./vm/vm-service.js";
import { newSecret } from "#shared/secrets.js";
import { vmEventRoutes } from "./api/hyperstack/vm-events.routes.js";
import { callbackRoutes } from "./api/hyperstack/callbacks.routes.js";
import { floatingIpRoutes } from "./api/hyperstack/floating-ips.routes.js";
import { networkAdminRoutes } from "./api/admin/networks.routes.js";
import { FloatingIpService } from "./network/floating-ip-service.js";
import { NetworkService } from "./network/network-service.js";
import { NETWORK_SETTINGS, networkDefaults } from "./network/network-settings.js";
import { VmEventService } from "./events/vm-event-service.js";
import { CallbackDeliveryWorker } from "./callbacks/callback-delivery.js";
import { httpCallbackPoster } from "./callbacks/callback-http.js";
import { withActionCallbacks, withActionFailedCallback } from "./callbacks/callback-outbox.js";
import { CallbackSecretService } from "./callbacks/callback-secrets.js";
import { CALLBACK_SETTINGS, deliverySettings } from "./callbacks/callback-settings.js";
import { CallbackUrlService } from "./callbacks/callback-url-service.js";
import { CORE_SETTINGS, HOST_MEMORY_RESERVE_SETTING, IDEMPOTENCY_TTL_SETTING, JOB_MAX_ATTEMPTS_SETTING, RECONCILE_FULL_INTERVAL_SETTING } from "./settings/settings-registry.js";

export const ORBIT_VERSION: string = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export interface RunningManager {
  apiUrl: string;
  grpcAddress: string;
  /** Set when this start created the admin key (shown once). */
  createdAdminKey: string | undefined;
  agentToken: string;
  /** The manager's CA (PEM): agents verify the gateway with it; it signs their certificates. */
  caPem: string;
  /** Whether the agent gateway speaks mutual TLS. */
  grpcTls: boolean;
  database: Database;
  jobs: JobRunner;
  /** This manager instance (its id leases its jobs and duties) and the others on the database. */
  instances: ManagerInstances;
  /** The singleton duties this instance runs now (cluster/duties.ts). */
  duties: ClusterDuties;
  sessions: AgentSessions;
  /** VM migrations (admin API, host maintenance). */
  migrations: MigrationService;
  log: Logger;
  metrics: ManagerMetrics;
  /** GET /metrics on a listener of its own (ORBIT_METRICS_ADDR=host:port); undefined otherwise. */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export interface StartManagerOptions {
  /**
   * Global settings stored before anything runs (embedding, tests): unlike a change at run time
   * they apply at once, without the grace a shortened heartbeat interval gets.
   */
  initialSettings?: Record<string, unknown>;
}

export async function startManager(config: ManagerConfig, log: Logger = createManagerLogger({ level: config.logLevel }), opts: StartManagerOptions = {}): Promise<RunningManager> {
  // Database failures are counted here and logged once per outage (see DatabaseHealth).
  let probe = async (): Promise<void> => { throw new Error("the database is not open yet"); };
  const health = new DatabaseHealth({ log: log.child({ component: "database" }), probe: () => probe() });
  // ORBIT_DATA_DIR=":memory:" keeps PGlite in memory (tests, throwaway demos).
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.databaseUrl || config.dataDir === ":memory:" ? undefined : `${config.dataDir}/pglite`,
    timeouts: config.databaseTimeouts,
    onIdleError: (err) => {
      if (!health.report(err)) log.warn({ err }, "a pooled PostgreSQL connection was lost while idle; it will be replaced");
    },
    onActiveError: (err) => { health.report(err); },
  });
  const db = database.db;
  probe = async () => { await db.execute(sql`select 1`); };
  const reportDatabase = (e: unknown) => health.report(e);
  log.info({ database: database.kind }, "database ready (migrations applied)");

  const registry = new SettingsRegistry([...CORE_SETTINGS, ...CALLBACK_SETTINGS, ...NETWORK_SETTINGS, ...CONSOLE_SETTINGS, ...IMAGE_SETTINGS, ...HA_SETTINGS]);
  const allocation = new AllocationSettings(registry);
  defineAccountSettings(registry);
  const settings = new SettingsService(db, registry);
  // This process among the managers sharing the database: its id leases the jobs it runs and the
  // singleton duties it holds (cluster/); each lease lasts ORBIT_LEASE_TTL_MS unrenewed.
  const leaseTtlMs = config.leaseTtlMs ?? 30_000;
  const instances = new ManagerInstances({ db, me: newManagerIdentity(ORBIT_VERSION), heartbeatMs: Math.min(5000, Math.ceil(leaseTtlMs / 3)), log: log.child({ component: "cluster" }) });
  const metrics: ManagerMetrics = new ManagerMetrics({
    connectedAgents: (): number => sessions.connectedHostIds().length,
    leasedJobs: (): number => runner.leasedJobIds().length,
    dutiesHeld: () => { const held = new Set<string>(duties.held()); return Object.fromEntries(DUTY_NAMES.map((d) => [d, held.has(d)])); },
  });
  const sessions: AgentSessions = new AgentSessions(metrics);
  // Several managers on one PostgreSQL (README "Several managers"): commands for hosts whose
  // stream another manager holds routed through the database (agents/command-router.ts).
  const managerId = instances.me.id;
  const router = new CommandRouter({ db, sessions, managerId, log: log.child({ component: "routing" }) });
  // This manager's agent-facing address among those on the database (from when its API listens); agents are told the live ones'.
  const peers = new PeerManagers({
    db, id: managerId, log: log.child({ component: "managers" }), onDatabaseUnavailable: reportDatabase,
    onChange: () => sessions.broadcast({ body: { $case: "settings", value: agentSettings() } }),
  });
  // Other managers' setting changes and routed commands arrive over LISTEN/NOTIFY on one
  // connection (PostgreSQL; PGlite has one process only).
  const notifications = database.kind === "postgres" && config.databaseUrl
    ? new PgNotificationListener({ url: config.databaseUrl, log: log.child({ component: "notifications" }) })
    : undefined;
  // Interactive consoles: sessions relayed over the agents' streams (tokens: consoleTokens below).
  const consoleRelay = new ConsoleRelay({
    sendToAgent: (hostId, msg) => {
      if (!sessions.isConnected(hostId)) return false;
      sessions.send(hostId, msg);
      return true;
    },
    agentBufferedBytes: (hostId) => sessions.bufferedBytes(hostId),
  });
  if (notifications) {
    followSettingChanges(notifications, settings, log.child({ component: "settings" }));
    router.follow(notifications);
    followConsoleCloses(notifications, consoleRelay);
  }
  await notifications?.start();
  await settings.load((m) => log.warn(m));
  for (const [name, value] of Object.entries(opts.initialSettings ?? {})) await settings.set(name, value);
  allocation.rebuild();
  allocation.followSettings((l) => settings.onChange(l));

  await seedCatalog(db);
  const apiKeys = new ApiKeyService(db);
  const accountsSvc = new AccountService(db, () => defaultAccountLimits(registry), () => apiKeys.forgetCached());
  const usersSvc = new UserService(db, () => apiKeys.forgetCached());
  const admin = await apiKeys.ensureAdminKey(config.adminKey);
  const agentToken = config.agentToken ?? newSecret("join_");

  const hostsSvc = new HostService(db, (ctx) => registry.resolve<number>(HOST_MEMORY_RESERVE_SETTING, ctx));
  // Host liveness: one deadline for Suspect hosts, for commands waiting for an agent, and
  // for the reconnect backoff agents are told (hosts/host-liveness.ts).
  const liveness = new HostLiveness({
    intervalMs: () => Math.round(registry.number(LIVENESS_SETTINGS.interval) * 1000),
    missFactor: () => registry.number(LIVENESS_SETTINGS.missFactor),
  }, log.child({ component: "liveness" }));
  const dispatcher = new CommandDispatcher(db, sessions, liveness, Date.now, notifications ? router : undefined);
  const runner: JobRunner = new JobRunner({
    db,
    log: log.child({ component: "jobs" }),
    owner: instances.me.id,
    leaseTtlMs,
    maxAttempts: () => registry.number(JOB_MAX_ATTEMPTS_SETTING),
    onDatabaseUnavailable: reportDatabase,
    metrics,
    onFailed: withActionFailedCallback(db, (() => {
      const vmFailed = onVmJobFailed(db, dispatcher);
      const imageFailed = onImageJobFailed(db);
      return async (job, error) => {
        if (job.volumeId != null) await onVolumeJobFailed(db, job, error);
        await onSnapshotJobFailed(db, job, error);
        await onMigrateJobFailed(db, job, error, dispatcher, log.child({ component: "migration" }));
        await vmFailed(job, error);
        await imageFailed(job, error);
        if (job.kind === HOST_MAINTENANCE_JOB) await onMaintenanceJobFailed(db, job, () => placement.invalidate());
      };
    })()),
  });
  // HA (ha/): crash restarts on the VM's host, stale copies destroyed when a lost host is back,
  // Suspect hosts investigated through their neighbours, Down hosts' HA VMs restarted elsewhere.
  const haSettings = new HaSettings(registry);
  const crashRestarts = new CrashRestarts(db, runner, haSettings, log.child({ component: "ha" }));
  const reconciler = new VmReconciler(db, dispatcher, log.child({ component: "reconciler" }), runner, (vmId, how) => crashRestarts.stoppedByItself(vmId, how));
  const staleCopies = new StaleCopies(db, dispatcher, log.child({ component: "ha" }), () => registry.number("vm.destroy.timeout.ms"));
  const placement = new PlacementService({
    db, policy: () => allocation.policy(), log: log.child({ component: "placement" }), onDatabaseUnavailable: reportDatabase, metrics,
  });
  // Cluster overrides are read with the fleet snapshot: the next placement re-reads it.
  settings.onChange((name) => {
    if (allocation.owns(name)) placement.invalidate();
    // A host's reserve is a column of its row (read with the fleet snapshot): rewritten on a change.
    if (name === HOST_MEMORY_RESERVE_SETTING) {
      hostsSvc.refreshMemoryReserve().then((n) => { if (n > 0) placement.invalidate(); })
        .catch((e: unknown) => log.warn({ err: e }, "rewriting hosts' memory reserve failed; it applies when they next register"));
    }
  });
  const failover = new HostFailover(db, placement, runner, log.child({ component: "ha" }));
  const investigator = new HostInvestigator(db, dispatcher,
    (h) => (sessions.isConnected(h.id) ? "here" : notifications && h.connectedManagerId !== null ? "routed" : "no"), haSettings, failover, log.child({ component: "ha" }));
  // Crash restarts whose backoff is over run every round, even when an investigation failed.
  const haLoop = new HaLoop(async () => {
    try { await investigator.check(); } finally { await crashRestarts.restartDue(); }
  }, log.child({ component: "ha" }), reportDatabase);
  const catalog = new CatalogService(db, {
    snapshot: async (environment) => (await placement.cache.get(environment)).snapshot,
    policy: () => allocation.policy().config,
  });
  runner.register("vm.deploy", withActionCallbacks(db, vmDeployJob(db, dispatcher, registry, runner)));
  runner.register("vm.destroy", withActionCallbacks(db, vmDestroyJob(db, dispatcher, registry, { enqueue: (id) => runner.enqueue(id) })));
  for (const kind of VM_POWER_JOB_KINDS) runner.register(kind, withActionCallbacks(db, vmPowerJob(kind, db, dispatcher, registry, runner)));
  for (const kind of VM_REINSTALL_JOB_KINDS) runner.register(kind, withActionCallbacks(db, vmReinstallJob(kind, db, dispatcher, registry)));
  for (const kind of VM_CLONE_JOB_KINDS) runner.register(kind, withActionCallbacks(db, vmCloneJob(kind, db, dispatcher, registry)));
  runner.register("vm.firewall", vmFirewallJob(db, dispatcher, registry));
  runner.register(VM_ISO_JOB, vmIsoJob(db, dispatcher, registry));
  runner.register(VM_SCALE_JOB, withActionCallbacks(db, vmScaleJob(db, dispatcher, registry)));
  runner.register(VM_MIGRATE_JOB, vmMigrateJob(db, dispatcher, registry, runner));
  const migrations = new MigrationService(db, () => allocation.policy(), runner, dispatcher, () => placement.invalidate());
  for (const kind of VM_SNAPSHOT_JOB_KINDS) runner.register(kind, vmSnapshotJob(kind, db, dispatcher, registry));
  for (const kind of VOLUME_JOB_KINDS) runner.register(kind, withActionCallbacks(db, volumeJob(kind, db, dispatcher, registry)));
  // Host maintenance moves VMs off a host through the migration service (hosts/vm-mover.ts).
  const vmMover: VmMover = migrations;
  runner.register(HOST_MAINTENANCE_JOB, hostMaintenanceJob({ db, mover: vmMover, changed: () => placement.invalidate() }));
  // Registered images are downloaded into the manager's store (CloudStack's secondary storage).
  const imageStore = await openImageStore(config.dataDir);
  runner.register(IMAGE_DOWNLOAD_JOB, imageDownloadJob({
    db, storeDir: imageStore.dir,
    maxBytes: () => registry.number("image.download.max.bytes"), timeoutMs: () => registry.number("image.download.timeout.ms"),
  }));
  const imagesSvc = new ImageService({ db, storeDir: imageStore.dir, enqueue: (id) => runner.enqueue(id) });
  // Event callbacks: queued in the outbox with each event, POSTed by this worker (callbacks/).
  const callbackPolicy = () => ({ allowPrivateAddresses: config.callbackAllowPrivateAddresses });
  const networks = new NetworkService(db, (ctx) => networkDefaults(registry, ctx));
  const vmSvc = new VmService(db, placement, runner, catalog, callbackPolicy, networks);
  const callbackSecrets = new CallbackSecretService(db, () => registry.number("callbacks.secret.rotation.grace.ms"));
  const callbackWorker = new CallbackDeliveryWorker({
    db, secrets: callbackSecrets, settings: () => deliverySettings(registry), log: log.child({ component: "callbacks" }), owner: instances.me.id,
    post: httpCallbackPoster(callbackPolicy, `Orbit-Callbacks/${ORBIT_VERSION}`),
  });

  // Agent security: the CA (shared through the database), one-time registration tokens, host
  // certificates; the static join token stays a multi-use cluster token unless disabled.
  const { ca, created: caCreated } = await loadOrCreateCertificateAuthority(db);
  if (caCreated) log.info({ ca_sha256: ca.fingerprintSha256 }, "created the agent CA");
  const certificates = new HostCertificateService(db, ca, () => config.hostCertValidityDays);
  const registrationTokens = new RegistrationTokenService(db);
  const enrollment = new HostEnrollment({
    hosts: hostsSvc, tokens: registrationTokens, certificates, requireCertificate: config.grpcTls,
    staticTokenValid: config.allowStaticJoinToken ? tokenMatcher(() => [agentToken]) : () => false,
  });
  const vmMetrics = new VmMetricsService({ db, retentionDays: () => registry.number(METRICS_RETENTION_SETTING), log: log.child({ component: "metrics" }) });
  const consoleLogs = new VmConsoleLogs(db, dispatcher);
  // Console tokens (in the database: any manager may answer the socket) and open/close.
  const consoleTokens = new ConsoleTokens(db, () => registry.number(CONSOLE_TOKEN_TTL_SETTING) * 1000);
  const vmConsoles = new VmConsoles(db, consoleTokens, consoleRelay, notifications !== undefined);
  // A console socket for a host whose stream another manager holds is forwarded there.
  const locateConsole: ConsoleLocator = async (hostId) => {
    if (sessions.isConnected(hostId) || !notifications) return { here: true };
    const apiUrl = await peers.streamHolderApi(hostId);
    return apiUrl ? { here: false, apiUrl } : { here: true };
  };
  // What agents are told: the liveness rule and HA's self-fencing, sent again on every change.
  const agentSettings = (): AgentSettings => ({
    ...liveness.agentSettings(),
    selfFenceAfterMs: haSettings.selfFenceAfterMs(),
    storageHeartbeatIntervalMs: haSettings.storageHeartbeatIntervalMs(),
    managerAddresses: peers.agentAddresses(),
  });
  // Heartbeats (hosts/README.md): routine ones coalesce into one write per tick; only a heartbeat
  // that reports something new (or is due its periodic pass) goes to stale copies and the reconciler.
  const reconcileOnChange = new ReconcileOnChange({ fullEveryMs: () => registry.number(RECONCILE_FULL_INTERVAL_SETTING), observer: metrics });
  const heartbeats = new HeartbeatCoalescer(hostsSvc, {
    tickMs: HEARTBEAT_FLUSH_TICK_MS, observer: metrics, cameBackUp: (hostId) => reconcileOnChange.cameBackUp(hostId),
  });
  heartbeats.start();
  const agentHandler = reconcileOnChange.handler(
    staleCopies.destroyedFirst(liveness.marksHostsUp(heartbeats, reconciler)),
    liveness.keepsHostsUp(heartbeats),
  );
  const gateway = new AgentGateway({
    hosts: hostsSvc, enrollment, certificates, requireClientCertificate: config.grpcTls,
    sessions, handler: router.handler(withHeartbeatMetrics(agentHandler, metrics)), log: log.child({ component: "agents" }), onDatabaseUnavailable: reportDatabase,
    inboxObserver: metrics,
    onCommandResult: (hostId) => reconcileOnChange.active(hostId),
    agentSettings,
    onVmStats: (hostId, report) => vmMetrics.record(hostId, report),
    onMigrationProgress: onMigrationProgress(db),
    consoles: consoleRelay,
    images: new StoredImageFiles(db, imageStore.dir),
  });
  // A revocation (admin API) drops the host's open streams on this manager at once.
  certificates.onRevoked((hostId, serials) => gateway.credentialsRevoked(hostId, serials));
  const grpcCredentials = config.grpcTls ? await gatewayServerCredentials(ca, config.grpcHost, config.grpcTlsNames) : undefined;
  const grpcPort = await gateway.listen(config.grpcHost, config.grpcPort, grpcCredentials);
  liveness.followSettings((l) => settings.onChange(l), () => sessions.broadcast({ body: { $case: "settings", value: agentSettings() } }));
  settings.onChange((name) => {
    if (HaSettings.tellsAgents(name) && !Object.values(LIVENESS_SETTINGS).includes(name as never)) {
      sessions.broadcast({ body: { $case: "settings", value: agentSettings() } });
    }
  });

  // Commands left open by jobs a killed manager never finished are closed; only while no other
  // instance is alive (its open commands are not abandoned): checked at start-up and, if another
  // was seen, once more when a dead one's heartbeat would have gone stale.
  const closeAbandoned = async (): Promise<boolean> => {
    if (database.kind === "postgres" && await instances.othersAlive() > 0) return false;
    const abandoned = await dispatcher.closeAbandoned("its job ended without an answer from the agent (manager restarted)");
    if (abandoned) log.info({ commands: abandoned }, "closed commands left open by a previous manager process");
    return true;
  };
  const abandonedLater = await closeAbandoned() ? undefined : setTimeout(() => {
    closeAbandoned().catch((e: unknown) => log.warn({ err: e }, "closing abandoned commands failed"));
  }, 4 * Math.min(5000, Math.ceil(leaseTtlMs / 3))).unref();
  // The singleton duties (cluster/duties.ts), each run by the one instance holding its lease.
  // Hosts that stop heartbeating are marked Suspect and their running VMs Unknown; HA investigates
  // them (its own loop, so probes do not delay the liveness check).
  const usageCompaction = new AccountUsageCompaction({ db, log: log.child({ component: "accounts" }), reportError: reportDatabase });
  const dutyList: Duty[] = [
    {
      name: "host-liveness",
      start: () => liveness.start({ markStale: (cutoff) => heartbeats.markStale(cutoff), afterCheck: () => reconciler.hostsLost(), reportError: reportDatabase }),
      stop: () => liveness.stop(),
    },
    { name: "ha", start: () => haLoop.start(), stop: () => haLoop.stop() },
    { name: "vm-metrics-purge", start: () => vmMetrics.start(), stop: () => vmMetrics.stop() },
    { name: "account-usage-compaction", start: () => usageCompaction.start(), stop: () => usageCompaction.stop() },
  ];
  const duties: ClusterDuties = new ClusterDuties({
    db, holder: instances.me.id, ttlMs: leaseTtlMs, log: log.child({ component: "cluster" }), duties: dutyList, onDatabaseUnavailable: reportDatabase,
  });

  const app = await buildApiServer({
    log, apiKeys, version: ORBIT_VERSION, idempotency: new IdempotencyStore(db, { ttlMs: (accountId) => registry.resolve<number>(IDEMPOTENCY_TTL_SETTING, { accountId }) * 3600_000 }), databaseHealth: health,
    publicRoutes: consoleSocketRoutes(consoleTokens, consoleRelay, locateConsole),
    requestObserver: metrics, ...(config.metrics.on === "api" ? { metrics: () => metrics.scrape() } : {}),
    routes: async (scoped) => {
      await scoped.register(virtualMachineRoutes(vmSvc));
      await scoped.register(vmActionRoutes(new VmActions(db, runner, placement, registry, (vmId, by) => failover.startDown(vmId, by)), new VmClones(db, placement, runner, vmSvc, networks)));
      await scoped.register(vmIsoRoutes(new VmIsos(db, runner)));
      await scoped.register(snapshotRoutes(new VmSnapshots(db, runner, registry)));
      await scoped.register(securityRuleRoutes(new SecurityRuleService(db, runner)));
      await scoped.register(vmMetricsRoutes({ vms: vmSvc, metrics: vmMetrics }));
      await scoped.register(vmLogsRoutes({ vms: vmSvc, logs: consoleLogs }));
      await scoped.register(vmConsoleRoutes({ vms: vmSvc, consoles: vmConsoles, publicUrl: config.publicUrl }));
      await scoped.register(jobRoutes(new JobService(db)));
      await scoped.register(catalogRoutes(catalog));
      await scoped.register(adminRoutes(hostsSvc, vmSvc));
      await scoped.register(managerRoutes(instances));
      await scoped.register(hostHaRoutes(hostsSvc, investigator, new VmHa(db)));
      await scoped.register(migrationRoutes(migrations));
      await scoped.register(registrationTokenRoutes(registrationTokens, ca));
      await scoped.register(hostCertificateRoutes(certificates));
      await scoped.register(flavorAdminRoutes(new FlavorService(db)));
      await scoped.register(settingsRoutes(settings));
      await scoped.register(hostAdminRoutes(
        new HostAdmin(db, settings, () => placement.invalidate()),
        new HostMaintenance(db, runner, () => placement.invalidate()),
        new HostRemoval(db, (hostId) => certificates.resetIdentity(hostId), () => placement.invalidate()),
      ));
      await scoped.register(affinityGroupRoutes(new AffinityGroupService(db)));
      await scoped.register(keypairRoutes(new KeyPairService(db)));
      await scoped.register(volumeRoutes(new VolumeService(db, runner, callbackPolicy)));
      await scoped.register(storagePoolRoutes(new StoragePoolService(db)));
      const environments = new EnvironmentService(db);
      await scoped.register(environmentRoutes(environments, new EnvironmentQuotaService(db, environments, catalog)));
      await scoped.register(accountRoutes(accountsSvc, apiKeys));
      await scoped.register(userRoutes(usersSvc, apiKeys));
      await scoped.register(apiKeyRoutes(apiKeys));
      await scoped.register(authMeRoutes(usersSvc, accountsSvc));
      await scoped.register(vmEventRoutes(new VmEventService(db)));
      await scoped.register(callbackRoutes(CallbackUrlService.forVms(db, callbackPolicy), CallbackUrlService.forVolumes(db, callbackPolicy), callbackSecrets));
      await scoped.register(floatingIpRoutes(new FloatingIpService(db, runner)));
      await scoped.register(networkAdminRoutes(networks));
      await scoped.register(imageAdminRoutes(imagesSvc));
    },
  });
  await app.listen({ host: config.apiHost, port: config.apiPort });
  const addr = app.server.address();
  const apiPort = typeof addr === "object" && addr ? addr.port : config.apiPort;
  const apiUrl = config.publicUrl ?? `http://${config.apiHost}:${apiPort}`;
  await peers.start({
    agentAddress: config.advertiseAgentAddress ?? defaultAgentAddress(config.grpcHost, grpcPort),
    // Other managers' address for this one, not the load balancer's (ORBIT_PUBLIC_URL).
    apiAddress: config.advertiseApiUrl ?? `http://${defaultAgentAddress(config.apiHost, apiPort)}`,
  });
  const metricsServer = config.metrics.on === "own"
    ? await startMetricsHttpServer({
      ...config.metrics, setting: "ORBIT_METRICS_ADDR", metrics: () => metrics.scrape(),
      ready: async () => (await health.check()) ? { ready: true } : { ready: false, reason: "the database does not answer" },
    })
    : undefined;

  // Hosts were connected to a previous process: they reconnect; until then they are not Up.
  // Jobs nobody runs are claimed now and by the sweep: a PGlite manager is the database's only
  // process (its data dir is locked), so it takes every open job, whatever lease a killed
  // predecessor left; on PostgreSQL another instance may hold them, so only free ones are.
  // Recorded and taking duties only now: building the API blocks the event loop for seconds on a
  // busy machine, which would miss heartbeats and renewals.
  await instances.start();
  await duties.start();
  const resumed = await runner.resume({ sole: database.kind !== "postgres" });
  if (resumed) log.info({ resumed }, "resumed unfinished jobs");
  runner.sweep(Math.min(5000, Math.ceil(leaseTtlMs / 3)));
  callbackWorker.start();

  return {
    apiUrl,
    grpcAddress: `${config.grpcHost}:${grpcPort}`,
    createdAdminKey: admin.created ? admin.key : undefined,
    agentToken,
    caPem: ca.certPem,
    grpcTls: config.grpcTls,
    database,
    jobs: runner,
    instances,
    duties,
    sessions,
    migrations,
    log,
    metrics,
    metricsUrl: metricsServer?.url,
    close: async () => {
      await metricsServer?.close();
      await notifications?.stop();
      router.stop();
      // The duties' leases are released: another instance takes them at its next round.
      clearTimeout(abandonedLater);
      await duties.stop();
      consoleRelay.closeAll();
      await app.close();
      await callbackWorker.stop();
      // Stop the runner first (no new attempts), then close the streams so in-flight commands
      // fail as retryable at once instead of waiting out their timeouts; their jobs resume later.
      const jobsDone = runner.stop();
      await gateway.close();
      await heartbeats.stop().catch((e: unknown) => { if (!reportDatabase(e)) log.warn({ err: e }, "last heartbeat flush failed"); });
      await peers.stop().catch((e: unknown) => log.warn({ err: e }, "removing this manager's row failed; it goes stale"));
      await jobsDone;
      await consoleLogs.drain();
      await instances.stop();
      health.close();
      await database.close();
      await imageStore.close();
    },
  };
}

