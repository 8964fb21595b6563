/**
 * The Windows rule for the data folder (src/platform/windows-acl.ts), case by case: owner and DACL
 * in, the one-line problem (or none) out. The ACLs are the ones Windows gives the folders a
 * worker meets — a profile folder, C:\, a folder made under C:\, C:\ProgramData, a FAT drive —
 * and the ones an attacker would leave. What Windows (or Wine) actually returns for a folder is
 * read by src/platform/windows-security.ts and checked by test/windows/data-folder.e2e.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Ace,
  ADMINISTRATORS,
  CONTAINER_INHERIT_ACE,
  EVERYONE,
  FILE_ALL_ACCESS,
  type FolderRole,
  type FolderSecurity,
  folderSecurityProblem,
  GENERIC_ALL,
  INHERIT_ONLY_ACE,
  INHERITED_ACE,
  isLinkTag,
  OBJECT_INHERIT_ACE,
  parseAcl,
  SYSTEM,
  sidName,
  sidString,
  TRUSTED_INSTALLER,
} from '../../src/platform/windows-acl.ts';
import { type AceSpec, aclBytes, sidBytes } from '../helpers/windows-acl-bytes.ts';

const USER = 'S-1-5-21-1111111111-2222222222-3333333333-1001';
const OTHER_USER = 'S-1-5-21-1111111111-2222222222-3333333333-1002';
const AUTHENTICATED_USERS = 'S-1-5-11';
const USERS = 'S-1-5-32-545';
const CREATOR_OWNER = 'S-1-3-0';
const INTERACTIVE = 'S-1-5-4';

const OI_CI = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE;
const IO = INHERIT_ONLY_ACE;
const I = INHERITED_ACE;
/** icacls' (RX): read and execute. */
const READ_EXECUTE = 0x12_00a9;
/** icacls' (M): modify — write, delete, no delete-child. */
const MODIFY = 0x13_01bf;
/** icacls' (WD,AD,WEA,WA): what BUILTIN\Users may do in C:\ProgramData's subfolders. */
const CREATE_ONLY = 0x116;
/** FILE_ADD_SUBDIRECTORY alone: Authenticated Users on C:\ itself. */
const ADD_SUBDIRECTORY = 0x4;
/** What Wine gives Everyone on a folder of mode 0777 (Z:\tmp). */
const WINE_WORLD_WRITE = 0x13_01ff;

/** What Windows gives a folder in a profile (%LOCALAPPDATA%\HiveWorker): inherited, private. */
const PROFILE: AceSpec[] = [
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: ADMINISTRATORS },
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: USER },
];

/** A folder a user made directly under C:\ (C:\HiveWorker): Authenticated Users may modify it. */
const UNDER_C_ROOT: AceSpec[] = [
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: ADMINISTRATORS },
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: I | OI_CI, mask: READ_EXECUTE, sid: USERS },
  { flags: I, mask: MODIFY, sid: AUTHENTICATED_USERS },
  { flags: I | OI_CI | IO, mask: 0x1000_0000 | 0x2000_0000 | 0x8000_0000, sid: CREATOR_OWNER },
];

/** C:\ itself: Authenticated Users may add folders there (and modify what they inherit). */
const C_ROOT: AceSpec[] = [
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: ADMINISTRATORS },
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: OI_CI, mask: READ_EXECUTE, sid: USERS },
  { flags: OI_CI | IO, mask: MODIFY, sid: AUTHENTICATED_USERS },
  { flags: 0, mask: ADD_SUBDIRECTORY, sid: AUTHENTICATED_USERS },
];

/** C:\ProgramData: Users may create files and folders, and those they create are their own. */
const PROGRAM_DATA: AceSpec[] = [
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: ADMINISTRATORS },
  { flags: OI_CI | IO, mask: GENERIC_ALL, sid: CREATOR_OWNER },
  { flags: OI_CI, mask: READ_EXECUTE, sid: USERS },
  { flags: CONTAINER_INHERIT_ACE, mask: CREATE_ONLY, sid: USERS },
];

/** A folder the worker made in C:\ProgramData: it inherits Users' right to create in it. */
const IN_PROGRAM_DATA: AceSpec[] = [
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: ADMINISTRATORS },
  { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: USER },
  { flags: I | OI_CI, mask: READ_EXECUTE, sid: USERS },
  { flags: I | CONTAINER_INHERIT_ACE, mask: CREATE_ONLY, sid: USERS },
];

/** Wine's answer for a folder of mode 0700, 0755 and 0777 owned by the Unix user it runs as. */
const WINE_0700: AceSpec[] = [
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: SYSTEM },
  { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: USER },
];
const WINE_0755: AceSpec[] = [...WINE_0700, { flags: OI_CI, mask: READ_EXECUTE, sid: EVERYONE }];
const WINE_0777: AceSpec[] = [
  ...WINE_0700,
  { flags: OI_CI, mask: WINE_WORLD_WRITE, sid: EVERYONE },
];

/** The owner and DACL as windows-security.ts hands them over: through the binary form. */
function security(owner: string | null, aces: AceSpec[] | null): FolderSecurity {
  if (aces === null) return { owner, dacl: null };
  const parsed = parseAcl(aclBytes(aces));
  assert.ok(!(parsed instanceof Error), String(parsed));
  return { owner, dacl: parsed };
}

const DATA: FolderRole = { role: 'data' };
const INSIDE: FolderRole = { role: 'inside' };
const PARENT: FolderRole = { role: 'parent', child: 'C:\\Hive\\data\\inner' };

interface Case {
  name: string;
  owner?: string | null;
  aces: AceSpec[] | null;
  role: FolderRole;
  /** undefined: accepted; otherwise every pattern must match the one line. */
  refused?: (string | RegExp)[];
}

const CASES: Case[] = [
  // Accepted
  { name: 'a profile folder, as the data folder', aces: PROFILE, role: DATA },
  { name: 'a profile folder, as a folder in it', aces: PROFILE, role: INSIDE },
  { name: 'a profile folder, as the holder', aces: PROFILE, role: PARENT },
  {
    name: 'owned by Administrators (made elevated)',
    owner: ADMINISTRATORS,
    aces: PROFILE,
    role: DATA,
  },
  { name: 'owned by SYSTEM', owner: SYSTEM, aces: PROFILE, role: DATA },
  { name: 'owned by TrustedInstaller', owner: TRUSTED_INSTALLER, aces: PROFILE, role: PARENT },
  { name: 'an empty DACL: nobody but the owner', aces: [], role: DATA },
  { name: 'others may read and list', aces: WINE_0755, role: DATA },
  {
    name: 'CREATOR OWNER full control, inherit-only',
    aces: [...PROFILE, { flags: OI_CI | IO, mask: GENERIC_ALL, sid: CREATOR_OWNER }],
    role: DATA,
  },
  {
    name: 'OWNER RIGHTS may write (the owner is checked first)',
    aces: [...PROFILE, { mask: FILE_ALL_ACCESS, sid: 'S-1-3-4' }],
    role: DATA,
  },
  {
    name: 'an inherit-only entry passed on to nothing (no OI, no CI)',
    aces: [...PROFILE, { flags: IO, mask: GENERIC_ALL, sid: EVERYONE }],
    role: DATA,
  },
  {
    name: 'C:\\ as the holder: others may only add folders (like a sticky /tmp)',
    owner: TRUSTED_INSTALLER,
    aces: C_ROOT,
    role: PARENT,
  },
  {
    name: 'C:\\ProgramData as the holder: Users may only create',
    owner: SYSTEM,
    aces: PROGRAM_DATA,
    role: PARENT,
  },
  {
    name: "the holder's inheritable entries are the data folder's to judge",
    aces: [...PROFILE, { flags: OI_CI | IO, mask: GENERIC_ALL, sid: EVERYONE }],
    role: PARENT,
  },
  { name: 'Wine, mode 0700', aces: WINE_0700, role: DATA },
  { name: 'Wine, mode 0755, as the holder', aces: WINE_0755, role: PARENT },

  // Refused: the owner
  {
    name: 'owned by another user',
    owner: OTHER_USER,
    aces: PROFILE,
    role: DATA,
    refused: [
      `the data folder C:\\Hive\\data is owned by ${OTHER_USER}, not by this user (${USER})`,
      'use a folder of your own (DATA_DIR)',
      `icacls "C:\\Hive\\data" /setowner *${USER}`,
    ],
  },
  {
    name: 'a folder in it owned by another user',
    owner: OTHER_USER,
    aces: PROFILE,
    role: INSIDE,
    refused: [`the folder C:\\Hive\\data is owned by ${OTHER_USER}`],
  },
  {
    name: 'the holder owned by another user',
    owner: OTHER_USER,
    aces: PROFILE,
    role: PARENT,
    refused: [
      `the folder C:\\Hive\\data, which holds the data folder C:\\Hive\\data\\inner, is owned by ${OTHER_USER}`,
    ],
  },
  {
    name: 'owned by Everyone',
    owner: EVERYONE,
    aces: PROFILE,
    role: DATA,
    refused: ['is owned by Everyone (S-1-1-0), not by this user'],
  },
  {
    name: 'Wine: owned by another Unix user (ANONYMOUS LOGON)',
    owner: 'S-1-5-7',
    aces: WINE_0755,
    role: DATA,
    refused: ['is owned by ANONYMOUS LOGON (S-1-5-7)'],
  },
  {
    name: 'no owner (FAT, exFAT)',
    owner: null,
    aces: null,
    role: DATA,
    refused: ['has no owner: its drive keeps no permissions', 'on an NTFS drive'],
  },

  // Refused: the DACL
  {
    name: 'a NULL DACL',
    aces: null,
    role: DATA,
    refused: [
      'has no access list (a NULL DACL), so everyone may write to it',
      `icacls "C:\\Hive\\data" /inheritance:r /grant:r *${USER}:(OI)(CI)F`,
    ],
  },
  { name: 'a NULL DACL on the holder', aces: null, role: PARENT, refused: ['NULL DACL'] },
  {
    name: 'Everyone full control',
    aces: [...PROFILE, { flags: OI_CI, mask: FILE_ALL_ACCESS, sid: EVERYONE }],
    role: DATA,
    refused: [
      'the data folder C:\\Hive\\data is writable by Everyone (S-1-1-0) (full control): ',
      `run icacls "C:\\Hive\\data" /inheritance:r /grant:r *${USER}:(OI)(CI)F /remove:g *S-1-1-0, or set DATA_DIR to a folder of your own`,
    ],
  },
  {
    name: 'a folder made under C:\\: Authenticated Users may modify it',
    aces: UNDER_C_ROOT,
    role: DATA,
    refused: ['writable by Authenticated Users (S-1-5-11) (add files, add folders, delete it)'],
  },
  {
    name: 'a folder made in C:\\ProgramData: Users may create in it',
    aces: IN_PROGRAM_DATA,
    role: DATA,
    refused: ['writable by BUILTIN\\Users (S-1-5-32-545) (add files, add folders)'],
  },
  {
    name: 'the same, as a folder in the data folder',
    aces: IN_PROGRAM_DATA,
    role: INSIDE,
    refused: ['the folder C:\\Hive\\data is writable by BUILTIN\\Users'],
  },
  {
    name: 'Wine, mode 0777',
    aces: WINE_0777,
    role: DATA,
    refused: [
      'writable by Everyone (S-1-1-0) (add files, add folders, delete what is in it, delete it)',
    ],
  },
  {
    name: 'Wine, Z:\\tmp (1777: the sticky bit is not in the DACL) as the holder',
    aces: WINE_0777,
    role: PARENT,
    refused: [
      'which holds the data folder C:\\Hive\\data\\inner, lets Everyone (S-1-1-0) (delete what is in it, delete it) remove or rename it or what is in it, so they could swap the data folder',
    ],
  },
  {
    name: 'an inherit-only grant: what the worker creates in it would be open',
    aces: [...PROFILE, { flags: OI_CI | IO, mask: GENERIC_ALL, sid: INTERACTIVE }],
    role: DATA,
    refused: ['writable by INTERACTIVE (S-1-5-4) (full control, on what is created in it)'],
  },
  {
    name: 'files only (OI, inherit-only): the results written there would be open',
    aces: [...PROFILE, { flags: OBJECT_INHERIT_ACE | IO, mask: MODIFY, sid: USERS }],
    role: DATA,
    refused: [
      'BUILTIN\\Users (S-1-5-32-545) (add files, add folders, delete it, on what is created in it)',
    ],
  },
  {
    name: 'a deny entry before the grant does not make it acceptable',
    aces: [{ type: 1, mask: MODIFY, sid: EVERYONE }, ...PROFILE, { mask: MODIFY, sid: EVERYONE }],
    role: DATA,
    refused: ['writable by Everyone'],
  },
  {
    name: 'two others: both named, both removed',
    aces: [...PROFILE, { mask: 0x2, sid: OTHER_USER }, { mask: 0x4_0000, sid: 'S-1-5-32-546' }],
    role: DATA,
    refused: [
      `writable by ${OTHER_USER} (add files) and BUILTIN\\Guests (S-1-5-32-546) (change its permissions)`,
      `/remove:g *${OTHER_USER} *S-1-5-32-546`,
    ],
  },
  {
    name: 'take ownership alone',
    aces: [...PROFILE, { mask: 0x8_0000, sid: AUTHENTICATED_USERS }],
    role: DATA,
    refused: ['(take ownership)'],
  },
  {
    name: 'the holder: Everyone may delete what is in it',
    aces: [...PROFILE, { mask: 0x40, sid: EVERYONE }],
    role: PARENT,
    refused: ['lets Everyone (S-1-1-0) (delete what is in it) remove or rename'],
  },
  {
    name: 'the holder: Users may change its permissions',
    aces: [...PROFILE, { mask: 0x4_0000, sid: USERS }],
    role: PARENT,
    refused: ['BUILTIN\\Users (S-1-5-32-545) (change its permissions)'],
  },
  {
    name: 'the holder: another user may delete (move) it',
    aces: [...PROFILE, { mask: 0x1_0000, sid: OTHER_USER }],
    role: PARENT,
    refused: [`${OTHER_USER} (delete it)`],
  },
];

describe('the Windows rule for the data folder (owner and DACL)', () => {
  for (const one of CASES) {
    test(`${one.refused === undefined ? 'accepted' : 'refused'}: ${one.name}`, () => {
      const problem = folderSecurityProblem(
        'C:\\Hive\\data',
        security(one.owner === undefined ? USER : one.owner, one.aces),
        USER,
        one.role,
      );
      if (one.refused === undefined) {
        assert.equal(problem, undefined);
        return;
      }
      assert.ok(problem !== undefined, 'refused');
      assert.doesNotMatch(problem, /\n/, 'one line');
      for (const part of one.refused) {
        if (typeof part === 'string')
          assert.ok(problem.includes(part), `"${part}" in:\n${problem}`);
        else assert.match(problem, part);
      }
    });
  }
});

describe('binary SIDs and ACLs', () => {
  test('SIDs: the string form, both ways', () => {
    for (const sid of [
      EVERYONE,
      SYSTEM,
      ADMINISTRATORS,
      TRUSTED_INSTALLER,
      USER,
      'S-1-16-12288',
      'S-1-15-2-1',
      'S-1-5-21-4294967295-0-0-500',
    ]) {
      assert.equal(sidString(sidBytes(sid)), sid);
    }
    assert.deepEqual(
      [...sidBytes('S-1-5-32-544')],
      [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0],
    );
    assert.equal(sidString(Buffer.from([1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0])), null, 'cut short');
    assert.equal(sidString(Buffer.from([2, 0, 0, 0, 0, 0, 0, 1])), null, 'revision 2');
  });

  test('names for messages', () => {
    assert.equal(sidName(EVERYONE), 'Everyone (S-1-1-0)');
    assert.equal(sidName('S-1-5-21-1-2-3-513'), 'Domain Users (S-1-5-21-1-2-3-513)');
    assert.equal(sidName(OTHER_USER), OTHER_USER);
  });

  test('an ACL: entries in order, allow and deny, flags and masks; object entries skip their GUIDs', () => {
    const bytes = aclBytes([
      { type: 1, flags: OI_CI, mask: 0x116, sid: EVERYONE },
      { flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: USER },
    ]);
    // An ACCESS_ALLOWED_OBJECT_ACE (type 5) with one GUID (Flags = 1), then the SID.
    const sid = sidBytes(USERS);
    const object = Buffer.alloc(12 + 16 + sid.length);
    object.writeUInt8(5, 0);
    object.writeUInt16LE(object.length, 2);
    object.writeUInt32LE(0x2, 4);
    object.writeUInt32LE(1, 8);
    sid.copy(object, 28);
    // And an entry of a kind with no SID to read (a SYSTEM_AUDIT_CALLBACK… of type 0x13).
    const other = Buffer.from([0x13, 0, 8, 0, 0, 0, 0, 0]);
    const whole = Buffer.concat([bytes, object, other]);
    whole.writeUInt16LE(whole.length, 2);
    whole.writeUInt16LE(4, 4);
    const aces = parseAcl(whole);
    assert.deepEqual(aces, [
      { kind: 'deny', flags: OI_CI, mask: 0x116, sid: EVERYONE },
      { kind: 'allow', flags: I | OI_CI, mask: FILE_ALL_ACCESS, sid: USER },
      { kind: 'allow', flags: 0, mask: 0x2, sid: USERS },
      { kind: 'other', flags: 0, mask: 0, sid: '' },
    ] satisfies Ace[]);
  });

  test('an ACL that does not hold together is an error, not a guess', () => {
    const bytes = aclBytes([{ mask: FILE_ALL_ACCESS, sid: USER }]);
    const claimsMore = Buffer.from(bytes);
    claimsMore.writeUInt16LE(2, 4);
    assert.ok(parseAcl(claimsMore) instanceof Error, 'an entry past the end');
    const tooBig = Buffer.from(bytes);
    tooBig.writeUInt16LE(bytes.length + 8, 2);
    assert.ok(parseAcl(tooBig) instanceof Error, 'a size past what was read');
    const badAce = Buffer.from(bytes);
    badAce.writeUInt16LE(2, 10);
    assert.ok(parseAcl(badAce) instanceof Error, 'an entry of size 2');
    assert.ok(parseAcl(Buffer.alloc(4)) instanceof Error, 'no header');
    assert.deepEqual(parseAcl(aclBytes([])), []);
  });
});

describe('reparse points in the data folder', () => {
  const TAGS: [string, number, boolean][] = [
    ['a junction (IO_REPARSE_TAG_MOUNT_POINT), also to a volume', 0xa000_0003, true],
    ['a symbolic link (IO_REPARSE_TAG_SYMLINK)', 0xa000_000c, true],
    ['a WSL symlink (IO_REPARSE_TAG_LX_SYMLINK)', 0xa000_001d, true],
    ['a container link (IO_REPARSE_TAG_WCI_LINK)', 0xa000_0027, true],
    ['tag 0: Wine shows a Unix symlink to a folder so', 0, true],
    ['a OneDrive file (IO_REPARSE_TAG_CLOUD_6)', 0x9000_601a, false],
    ['a deduplicated file (IO_REPARSE_TAG_DEDUP)', 0x8000_0013, false],
    [
      'an App Execution Alias (IO_REPARSE_TAG_APPEXECLINK; Node lstat says link)',
      0x8000_001b,
      false,
    ],
  ];
  for (const [name, tag, link] of TAGS) {
    test(`${link ? 'refused' : 'accepted'}: ${name}`, () => assert.equal(isLinkTag(tag), link));
  }
});
