-- Hand-written (drizzle-kit generate --custom): what an account holds, kept as changes in
-- account_usage_deltas by triggers in the changing transaction (placement/account-limits.ts
-- sums them): VMs not deleted; vCPUs and memory of their allocations; their GPU allocations.
-- Then every account's current usage as its first row.
CREATE FUNCTION orbit_account_usage_of_vms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL) AND OLD.account_id = NEW.account_id THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
    INSERT INTO account_usage_deltas (account_id, vms) VALUES (OLD.account_id, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
    INSERT INTO account_usage_deltas (account_id, vms) VALUES (NEW.account_id, 1);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER vms_account_usage AFTER INSERT OR DELETE OR UPDATE OF deleted_at, account_id ON vms
  FOR EACH ROW EXECUTE FUNCTION orbit_account_usage_of_vms();
--> statement-breakpoint
CREATE FUNCTION orbit_account_usage_of_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.vm_id = NEW.vm_id AND OLD.vcpus = NEW.vcpus AND OLD.memory_mib = NEW.memory_mib THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO account_usage_deltas (account_id, vcpus, memory_mib)
      SELECT v.account_id, -OLD.vcpus, -OLD.memory_mib FROM vms v WHERE v.id = OLD.vm_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO account_usage_deltas (account_id, vcpus, memory_mib)
      SELECT v.account_id, NEW.vcpus, NEW.memory_mib FROM vms v WHERE v.id = NEW.vm_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER allocations_account_usage AFTER INSERT OR DELETE OR UPDATE OF vm_id, vcpus, memory_mib ON allocations
  FOR EACH ROW EXECUTE FUNCTION orbit_account_usage_of_allocations();
--> statement-breakpoint
CREATE FUNCTION orbit_account_usage_of_gpu_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.vm_id = NEW.vm_id THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO account_usage_deltas (account_id, gpus) SELECT v.account_id, -1 FROM vms v WHERE v.id = OLD.vm_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO account_usage_deltas (account_id, gpus) SELECT v.account_id, 1 FROM vms v WHERE v.id = NEW.vm_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER gpu_allocations_account_usage AFTER INSERT OR DELETE OR UPDATE OF vm_id ON gpu_allocations
  FOR EACH ROW EXECUTE FUNCTION orbit_account_usage_of_gpu_allocations();
--> statement-breakpoint
INSERT INTO account_usage_deltas (account_id, vms, vcpus, memory_mib, gpus)
SELECT a.id,
  (SELECT count(*) FROM vms v WHERE v.account_id = a.id AND v.deleted_at IS NULL),
  (SELECT coalesce(sum(al.vcpus), 0) FROM allocations al JOIN vms v ON v.id = al.vm_id WHERE v.account_id = a.id),
  (SELECT coalesce(sum(al.memory_mib), 0) FROM allocations al JOIN vms v ON v.id = al.vm_id WHERE v.account_id = a.id),
  (SELECT count(*) FROM gpu_allocations g JOIN vms v ON v.id = g.vm_id WHERE v.account_id = a.id)
FROM accounts a
WHERE EXISTS (SELECT 1 FROM vms v WHERE v.account_id = a.id);
