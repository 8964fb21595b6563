/**
 * Which local addresses a network task may reach (TASK_LOCAL_NETWORK): a task fetches what its
 * payload — the server — names, so without a check a server could aim it at this machine's own
 * services (loopback) or the cloud metadata address (169.254.169.254, link-local), with headers of
 * its choosing. Given to tasks as `ctx.network` (src/task/define.ts); docs/reliability.md, "What tasks see".
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** `none`: neither loopback nor link-local; `loopback`: loopback only (the default); `all`: both. */
export const LOCAL_NETWORK_VALUES = ['none', 'loopback', 'all'] as const;
export type LocalNetwork = (typeof LOCAL_NETWORK_VALUES)[number];

/** How the worker tells a task process the setting: one argument after the task flag. */
export const LOCAL_NETWORK_ARG = '--local-network=';

export interface TaskNetwork {
  /** The worker's TASK_LOCAL_NETWORK. */
  readonly allows: LocalNetwork;
  /** Throws when `url`'s host is an address given literally that is refused (names: `lookup`). */
  checkUrl(url: string): void;
  /** dns.lookup that fails for a refused address: for the HTTP client (undici: `connect: { lookup }`). */
  readonly lookup: LookupFunction;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addSubnet('0.0.0.0', 8, 'ipv4'); // "this host": a connection to 0.0.0.0 reaches loopback
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');

/** 'loopback', 'link-local' or undefined for an IP address (an IPv4-mapped IPv6 one as its IPv4). */
export function localKind(address: string): 'loopback' | 'link-local' | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1] ?? fromMappedHex(bare);
  const ip = mapped ?? bare;
  const family = isIP(ip) === 6 ? 'ipv6' : isIP(ip) === 4 ? 'ipv4' : undefined;
  if (family === undefined) return undefined;
  if (LOOPBACK.check(ip, family)) return 'loopback';
  if (LINK_LOCAL.check(ip, family)) return 'link-local';
  return undefined;
}

/** `::ffff:a9fe:a9fe` (as URL writes a mapped address) → `169.254.169.254`. */
function fromMappedHex(address: string): string | undefined {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (match === null) return undefined;
  const [high, low] = [Number.parseInt(match[1] ?? '', 16), Number.parseInt(match[2] ?? '', 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Why `address` is refused under `allows`, or undefined when it may be reached. */
function refusal(address: string, allows: LocalNetwork): string | undefined {
  const kind = localKind(address);
  if (kind === undefined || allows === 'all' || (kind === 'loopback' && allows === 'loopback'))
    return undefined;
  const what =
    kind === 'loopback'
      ? 'a loopback address (this machine)'
      : 'a link-local address (where the cloud metadata service answers)';
  return `refused to connect to ${address}: ${what}; the worker's TASK_LOCAL_NETWORK is "${allows}" (none, loopback or all)`;
}

export function taskNetwork(allows: LocalNetwork): TaskNetwork {
  const lookup = ((hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const why = addresses.map(({ address }) => refusal(address, allows)).find(Boolean);
      if (why !== undefined)
        return callback(Object.assign(new Error(why), { code: 'EACCES' }), '', 0);
      if (options.all)
        return (callback as (e: null, all: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      callback(null, first?.address ?? '', first?.family ?? 4);
    });
  }) as LookupFunction;
  return {
    allows,
    checkUrl(url) {
      const why = refusal(new URL(url).hostname, allows);
      if (why !== undefined) throw new Error(why);
    },
    lookup,
  };
}

/** The setting as the worker passed it on the task process's command line; `loopback` if absent. */
export function localNetworkFromArgv(argv: readonly string[]): LocalNetwork {
  const given = argv
    .find((arg) => arg.startsWith(LOCAL_NETWORK_ARG))
    ?.slice(LOCAL_NETWORK_ARG.length);
  return LOCAL_NETWORK_VALUES.find((value) => value === given) ?? 'loopback';
}
