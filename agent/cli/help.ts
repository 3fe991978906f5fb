/**
 * What the command tree says about itself: examples under every `--help`, and shell
 * completion generated from the same tree (so a new command or option completes at once).
 */
import type { Command } from 'commander';

/** Copy-paste examples per command; a unit test checks every command has some. */
export const EXAMPLES: Record<string, string[]> = {
  up: ['pgmesh up', 'pgmesh up -m ./my-manifests --timeout 1200'],
  down: ['pgmesh down', 'pgmesh down --volumes --yes   # also deletes the data: no undo'],
  status: ['pgmesh status', 'pgmesh status --cluster pgmesh -o json'],
  plan: [
    'pgmesh plan',
    'pgmesh plan -m ./manifests -o json',
    'pgmesh plan -out plan.json && pgmesh apply plan.json',
  ],
  apply: ['pgmesh apply', 'pgmesh apply plan.json   # refused if the cluster or commit moved'],
  validate: ['pgmesh validate', 'pgmesh validate -m ./manifests -o json   # offline, for CI'],
  psql: ['pgmesh psql', "pgmesh psql -- -c 'select 1'", 'pgmesh psql --read-only'],
  drift: ['pgmesh drift', 'pgmesh drift -o json', 'pgmesh drift --exit-code=false'],
  history: ['pgmesh history', 'pgmesh history --limit 20 -o json'],
  pause: ['pgmesh pause --reason "disk full on node 2"'],
  resume: ['pgmesh resume'],
  agent: ['pgmesh agent   # as the agent service runs it; configured by PGMESH_* variables'],
  load: [
    'pgmesh load memory.memory_entries rows.csv',
    'cat rows.jsonl | pgmesh load memory.memory_entries --format jsonl',
  ],
  bench: ['pgmesh bench', 'pgmesh bench --rows 20000 --ops 500'],
  completion: [
    'pgmesh completion bash > ~/.local/share/bash-completion/completions/pgmesh',
    'source <(pgmesh completion bash)',
  ],
};

export function addExamples(program: Command): void {
  for (const cmd of program.commands) {
    const lines = EXAMPLES[cmd.name()];
    if (!lines) continue;
    cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  }
}

function words(cmd: Command): string[] {
  const opts = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
  return [...opts, '--help'];
}

/** A bash completion script for the tree: commands, then each command's options. */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const cases = program.commands
    .map((c) => `    ${c.name()}) opts="${words(c).join(' ')}" ;;`)
    .join('\n');
  const commands = program.commands.map((c) => c.name()).join(' ');
  return `# bash completion for ${name}, generated from its command tree (${name} completion bash)
_${name}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands} --version --help" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _${name} ${name}
`;
}
