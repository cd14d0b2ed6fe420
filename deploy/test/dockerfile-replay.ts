import { execFile } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';

// Replays what `docker build` does with the repository's Dockerfile and .dockerignore, on a
// machine without a Docker engine: the build context as the ignore file defines it, each
// stage's COPY lines from the context or from an earlier stage, and each stage's RUN steps.
// It follows the file rather than repeating its steps, so a change there is tested here.

/** One instruction of a Dockerfile, with continuation lines joined and its `--flags` apart. */
export interface Instruction {
  readonly keyword: string;
  readonly flags: Readonly<Record<string, string>>;
  readonly args: string;
}

export interface Stage {
  readonly name: string;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** Parses a Dockerfile into its stages (the instructions before the first FROM are dropped: global ARGs). */
export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // As Docker does: comment lines and empty lines are skipped, also inside a continued instruction.
    if (line === '' || line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    instructions.push(parseInstruction(pending + line));
    pending = '';
  }
  if (pending !== '') instructions.push(parseInstruction(pending));

  const stages: { name: string; base: string; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [base = '', as, name] = instruction.args.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' && name !== undefined ? name : String(stages.length), base, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

function parseInstruction(line: string): Instruction {
  const match = /^(\S+)\s*(.*)$/s.exec(line);
  if (match === null) throw new Error(`cannot parse Dockerfile line: ${line}`);
  let args = match[2] ?? '';
  const flags: Record<string, string> = {};
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(args);
    if (flag === null) break;
    flags[flag[1] ?? ''] = flag[2] ?? 'true';
    args = args.slice(flag[0].length);
  }
  return { keyword: (match[1] ?? '').toUpperCase(), flags, args: args.trim() };
}

/** The words of an exec-form (`["a", "b"]`) or shell-form instruction, as Docker runs them. */
export function commandWords(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** `ENV A=1 B="two"`: the variables it sets. */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = match[2] ?? '';
    env[match[1] ?? ''] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return env;
}

interface IgnoreRule {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly exception: boolean;
}

/** A .dockerignore's rules, matched as Docker matches them (Go's filepath.Match plus `**`). */
export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const exception = line.startsWith('!');
      const pattern = posix.normalize((exception ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '');
      return { pattern, regex: globToRegex(pattern), exception };
    });
}

function globToRegex(pattern: string): RegExp {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        regex += '(?:.*/)?';
      } else {
        regex += '.*';
      }
    } else if (c === '*') {
      regex += '[^/]*';
    } else if (c === '?') {
      regex += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i);
      regex += pattern.slice(i, end + 1).replace(/^\[!/, '[^');
      i = end;
    } else if (c === '\\') {
      i++;
      regex += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else {
      regex += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${regex}$`);
}

/** Whether the last rule matching `path` or one of its parent folders excludes it. */
export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) if (prefixes.some((prefix) => rule.regex.test(prefix))) ignored = !rule.exception;
  return ignored;
}

/**
 * Copies the build context of `root` into `into`: every file .dockerignore leaves in. An
 * excluded folder is walked only when an exception names something below it (Docker's rule).
 */
export function assembleContext(root: string, into: string): void {
  const rules = parseDockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const ignored = isIgnored(rules, path);
      if (entry.isDirectory()) {
        if (ignored && !rules.some((rule) => rule.exception && `${rule.pattern}/`.startsWith(`${path}/`))) continue;
        walk(path);
      } else if (!ignored) {
        mkdirSync(join(into, relative), { recursive: true });
        if (entry.isSymbolicLink()) symlinkSync(readlinkSync(join(root, path)), join(into, path));
        else copyFileSync(join(root, path), join(into, path));
      }
    }
  };
  walk('');
}

/** What a replayed stage left: its folder standing for its WORKDIR, and its image settings. */
export interface ReplayedStage {
  readonly name: string;
  readonly dir: string;
  readonly workdir: string;
  readonly env: Record<string, string>;
  readonly cmd: string[] | undefined;
  readonly entrypoint: string[] | undefined;
  readonly healthcheck: string[] | undefined;
  readonly user: string | undefined;
  /** RUN steps not replayed: operating-system packages, which only the base image can install. */
  readonly skipped: string[];
  /** How long each replayed RUN step took, in milliseconds. */
  readonly runs: { step: string; ms: number }[];
}

/** RUN steps that install operating-system packages need the base image's root; the replay leaves them out. */
export const isOsPackageStep = (command: string): boolean => /\bapt-get\b/.test(command);

/**
 * Replays every stage of `stages` in `workRoot/<stage>`, with `context` as the build context.
 * Paths are supported only under a stage's WORKDIR, which is all this project's Dockerfile uses.
 */
export async function replayStages(stages: readonly Stage[], context: string, workRoot: string): Promise<ReplayedStage[]> {
  const done: ReplayedStage[] = [];
  for (const stage of stages) {
    const dir = join(workRoot, stage.name.replace(/[^A-Za-z0-9_-]/g, '_'));
    mkdirSync(dir, { recursive: true });
    const from = done.find((earlier) => earlier.name === stage.base);
    if (from !== undefined) cpSync(from.dir, dir, { recursive: true, verbatimSymlinks: true });
    const replayed: ReplayedStage = {
      name: stage.name,
      dir,
      workdir: from?.workdir ?? '',
      env: { ...from?.env },
      cmd: from?.cmd,
      entrypoint: from?.entrypoint,
      healthcheck: from?.healthcheck,
      user: from?.user,
      skipped: [],
      runs: [],
    };
    const state = replayed as { -readonly [K in keyof ReplayedStage]: ReplayedStage[K] };
    const inStage = (path: string): string => {
      const absolute = posix.isAbsolute(path) ? posix.normalize(path) : posix.join(state.workdir, path);
      if (state.workdir === '' || (absolute !== state.workdir && !absolute.startsWith(`${state.workdir}/`))) {
        throw new Error(`stage ${stage.name}: ${path} is outside its WORKDIR (${state.workdir || 'unset'}); the replay cannot place it`);
      }
      return join(dir, posix.relative(state.workdir, absolute));
    };
    for (const { keyword, flags, args } of stage.instructions) {
      switch (keyword) {
        case 'WORKDIR':
          state.workdir = posix.normalize(args);
          break;
        case 'ENV':
          Object.assign(state.env, parseEnv(args));
          break;
        case 'USER':
          state.user = args;
          break;
        case 'CMD':
          state.cmd = commandWords(args);
          break;
        case 'ENTRYPOINT':
          state.entrypoint = commandWords(args);
          break;
        case 'HEALTHCHECK': {
          const check = /^CMD\s+(.*)$/s.exec(args);
          state.healthcheck = check === null ? undefined : commandWords(check[1] ?? '');
          break;
        }
        case 'COPY': {
          const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
          const target = words.at(-1) ?? '';
          const sources = words.slice(0, -1);
          const source = flags.from === undefined ? undefined : done.find((earlier) => earlier.name === flags.from);
          if (flags.from !== undefined && source === undefined) throw new Error(`COPY --from=${flags.from}: no such earlier stage`);
          for (const path of sources) {
            if (/[*?[]/.test(path)) throw new Error(`COPY ${path}: wildcards are not replayed`);
            let origin: string;
            if (source === undefined) {
              origin = join(context, path);
            } else {
              const absolute = posix.normalize(path);
              if (!absolute.startsWith(`${source.workdir}/`)) throw new Error(`COPY --from=${source.name} ${path}: outside that stage's WORKDIR`);
              origin = join(source.dir, posix.relative(source.workdir, absolute));
            }
            const isFolder = lstatSync(origin).isDirectory();
            const into = target.endsWith('/') || target === '.' || sources.length > 1;
            const destination = isFolder || !into ? inStage(target) : join(inStage(target), posix.basename(path));
            cpSync(origin, destination, { recursive: true, verbatimSymlinks: true });
          }
          break;
        }
        case 'RUN': {
          if (isOsPackageStep(args)) {
            state.skipped.push(args);
            break;
          }
          const [command = '', ...rest] = commandWords(args);
          const started = Date.now();
          await runStep(command, rest, inStage('.'), state.env).catch((error: unknown) => {
            throw new Error(`stage ${stage.name}: RUN ${args}\nfailed: ${String(error)}`);
          });
          state.runs.push({ step: args, ms: Date.now() - started });
          break;
        }
        case 'ARG':
        case 'LABEL':
        case 'EXPOSE':
          break;
        default:
          throw new Error(`stage ${stage.name}: ${keyword} is not replayed`);
      }
    }
    done.push(replayed);
  }
  return done;
}

function runStep(command: string, args: string[], cwd: string, imageEnv: Record<string, string>): Promise<void> {
  // As in the image: no NODE_ENV from the test runner. npm keeps its usual cache (the build's
  // cache mount) and prefers it to the registry, which keeps a replay to tens of seconds.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: homedir(),
    ...imageEnv,
    npm_config_prefer_offline: 'true',
    npm_config_update_notifier: 'false',
  };
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve();
      else {
        // The end of each stream, without npm's warnings, which drown what failed.
        const tail = (text: string, lines: number) => text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('npm warn')).slice(-lines).join('\n');
        reject(new Error(`exit ${String(error.code)}\n${tail(stdout, 25)}\n${tail(stderr, 15)}`));
      }
    });
  });
}
