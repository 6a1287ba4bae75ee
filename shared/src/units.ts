export const MIB_PER_GIB = 1024;
export const KIB_PER_MIB = 1024;

export const gibToMib = (gib: number): number => Math.round(gib * MIB_PER_GIB);
export const kibToMib = (kib: number): number => Math.floor(kib / KIB_PER_MIB);
export const mibToKib = (mib: number): number => mib * KIB_PER_MIB;
