-- The images Orbit ships (seeded with no source URL) are offered in every region (region_name ''):
-- their files are on every host, and VMs of every region were made of them.
UPDATE "images" SET "region_name" = '' WHERE "source_url" = '' AND "name" IN ('Ubuntu Server 22.04 LTS', 'Ubuntu Server 24.04 LTS', 'Debian 12', 'Windows Server 2022');
