-- Boolean settings (issue #14): enable.dynamic.scale.vm was the string "true" or "false" (settings
-- held numbers and strings only); it is now a JSON boolean, at every scope, and so are the values
-- in its audit (each change's old value stays the previous change's new value).
UPDATE "settings" SET "value" = ("value" #>> '{}')::jsonb
  WHERE "name" = 'enable.dynamic.scale.vm' AND "value" IN ('"true"'::jsonb, '"false"'::jsonb);--> statement-breakpoint
UPDATE "setting_changes" SET "old_value" = ("old_value" #>> '{}')::jsonb
  WHERE "name" = 'enable.dynamic.scale.vm' AND "old_value" IN ('"true"'::jsonb, '"false"'::jsonb);--> statement-breakpoint
UPDATE "setting_changes" SET "new_value" = ("new_value" #>> '{}')::jsonb
  WHERE "name" = 'enable.dynamic.scale.vm' AND "new_value" IN ('"true"'::jsonb, '"false"'::jsonb);
