# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_agent_global_optspecs
    string join \n json color= q/quiet C= h/help V/version
end

function __fish_git_agent_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_agent_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_agent_using_subcommand
    set -l cmd (__fish_git_agent_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-agent -n "__fish_git_agent_needs_command" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_needs_command" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_needs_command" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_needs_command" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_needs_command" -s V -l version -d 'Print version'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "start" -d 'Plan a goal and start working on it in a new task'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "resume" -d 'Continue a task from what git holds'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "rollback" -d 'Move the task branch back; the discarded tip is kept in the attic'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "checkpoint" -d 'Record the task worktree\'s current state as a checkpoint (e.g. after editing by hand)'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "list" -d 'List tasks with state, step, tests and cost'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "status" -d 'Show one task in detail'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "log" -d 'Show the checkpoints of a task with their trailers and records'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "diff" -d 'Show the task\'s whole change against its base'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "merge" -d 'Run the policy checks, then merge the task into its base branch (checked out here)'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "update" -d 'Bring a task up to date with its base branch: merge the base into the task'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "drop" -d 'Delete a task: branch, notes, attic and worktree'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "push" -d 'Push a task\'s branch, notes and attic to a remote'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "pull" -d 'Fetch tasks\' branches, notes and attic from a remote'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "queue" -d 'Put tasks on a shared remote for workers, or show the remote\'s queue'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "worker" -d 'Take queued tasks of a shared remote and work on them, one at a time'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "say" -d 'Tell a task something; a run shows it to the model at its next turn, from any terminal'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "stop" -d 'Stop a task\'s run as Ctrl-C in its terminal does, from any terminal or machine'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "plan" -d 'Print a task\'s plan, or change it with --edit before the next resume'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "compare" -d 'Show a task\'s parallel attempts side by side: tests, tries, diff, cost, time, files'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "pick" -d 'Choose attempt K of a task: it becomes agent/<task>, the others go to the attic'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "bisect" -d 'Find the first checkpoint of a task at which a command fails (git bisect over its checkpoints)'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "watch" -d 'Follow a running task live: steps, tool calls, tests, checkpoints, cost'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "fsck" -d 'Check the agent state in git against the data model and say how to repair each finding'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "config" -d 'Print the effective configuration and where each value came from'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "models" -d 'List the models git-agent knows: prices, context windows, the defaults, and what the configuration here uses'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "trust" -d 'Trust this repository\'s .git-agent.toml, as it is now, to widen what the agent may do'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "demo" -d 'An offline run on a sample repository with a recorded session'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "completions" -d 'Print shell completions, or install them where the shell finds them'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "install-man" -d 'Install the manual page, so that `git help agent` and `git agent --help` show it'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "__tasks" -d 'The task names, newest first, one a line: what the shell completions offer for a task'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "mcp" -d 'Serve the task commands to MCP clients (Claude Code, Codex, Cursor) over stdio'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "serve" -d 'A read-only live web view of every task, from this repository or a remote'
complete -c git-agent -n "__fish_git_agent_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l name -d 'Task name (slug) instead of one derived from the goal' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l attempts -d 'Plan once, then run N attempts side by side, each in its own worktree and branch (agent/<task>--try-<k>); the budget is split evenly between them' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l pick -d 'Who picks the attempt that becomes the task: the harness (tests pass, then fewest failed tries, then smallest diff, then cost) or you, with `git agent pick`' -r -f -a "auto\t''
manual\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l provider -d 'Model provider' -r -f -a "anthropic\t''
openai\t''
replay\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l model -d 'Model for the executor' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l planner-model -d 'Model for the planner (defaults to --model)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l replay-file -d 'Recorded session for the replay provider' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l max-turns -d 'Stop after this many model turns' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l max-tokens -d 'Stop after this many tokens (input + output)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l max-cost -d 'Stop after this many US dollars of model cost' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l max-time -d 'Stop after this much wall time, e.g. 30m or 2h' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l here -d 'Work in the current checkout (it must be clean) instead of a private worktree'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l from-head -d 'Start from HEAD alone: leave your uncommitted work out of the task (by default it is carried in as the task\'s first checkpoint; your checkout is never touched)'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l plan-only -d 'Create the task and its plan, then stop before the executor runs'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l no-run -d 'Only create the task and its worktree; plan and work later with `git agent resume`'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand start" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l attempts -d 'Plan once, then run N attempts side by side, each in its own worktree and branch (agent/<task>--try-<k>); the budget is split evenly between them' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l pick -d 'Who picks the attempt that becomes the task: the harness (tests pass, then fewest failed tries, then smallest diff, then cost) or you, with `git agent pick`' -r -f -a "auto\t''
manual\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l provider -d 'Model provider' -r -f -a "anthropic\t''
openai\t''
replay\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l model -d 'Model for the executor' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l planner-model -d 'Model for the planner (defaults to --model)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l replay-file -d 'Recorded session for the replay provider' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l max-turns -d 'Stop after this many model turns' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l max-tokens -d 'Stop after this many tokens (input + output)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l max-cost -d 'Stop after this many US dollars of model cost' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l max-time -d 'Stop after this much wall time, e.g. 30m or 2h' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand resume" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l to -d 'Move the branch back to this revision (a checkpoint of the task)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l steps -d 'Move the branch back by N checkpoints (default 1)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l reason -d 'Why; recorded in the plan\'s attempts so the next plan learns from it' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l last-green -d 'Move the branch back to the last checkpoint whose tests passed'
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l undo -d 'Undo the most recent rollback: restore the tip kept in the attic'
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -s m -l message -d 'The summary line of the checkpoint' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -l expected -d 'What this unit of work is expected to achieve' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -l allow-secrets -d 'Record the change even when the secret scan finds something (merge still checks)'
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand checkpoint" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand list" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand list" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand list" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand list" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand status" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand status" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand status" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand status" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand status" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand log" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand log" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand log" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand log" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand log" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand diff" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand diff" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand diff" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand diff" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand diff" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -l into -d 'Merge into this branch (it must be checked out) instead of the task\'s base branch' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -l squash -d 'Squash the task into one commit instead of a merge commit'
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -l force -d 'Merge even when a policy check fails or a flagged file (CI, hooks, configuration) changed; recorded in an Agent-Forced trailer'
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand merge" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand update" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand update" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand update" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand update" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -s f -l force -d 'Also drop a task that is not merged'
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand drop" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand push" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand push" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand push" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand push" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand push" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand pull" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand pull" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand pull" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand pull" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand pull" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -l remote -d 'The shared remote (default: origin)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -f -a "add" -d 'Create a task (as `start --no-run`) and push it to the remote for a worker'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -f -a "ls" -d 'Show the remote\'s tasks: queued, claimed, running, done, blocked'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and not __fish_seen_subcommand_from add ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -l name -d 'Task name (slug) instead of one derived from the goal' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -l remote -d 'The shared remote (default: origin)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -l remote -d 'The shared remote (default: origin)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create a task (as `start --no-run`) and push it to the remote for a worker'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "ls" -d 'Show the remote\'s tasks: queued, claimed, running, done, blocked'
complete -c git-agent -n "__fish_git_agent_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l remote -d 'The shared remote (default: origin)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l max-tasks -d 'Exit after this many tasks' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l lease -d 'How long the lease lasts without a heartbeat before another worker may take the task over (renewed every third of it)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l poll -d 'How often to look at the remote while waiting' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l provider -d 'Model provider' -r -f -a "anthropic\t''
openai\t''
replay\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l model -d 'Model for the executor' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l planner-model -d 'Model for the planner (defaults to --model)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l replay-file -d 'Recorded session for the replay provider' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l max-turns -d 'Stop after this many model turns' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l max-tokens -d 'Stop after this many tokens (input + output)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l max-cost -d 'Stop after this many US dollars of model cost' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l max-time -d 'Stop after this much wall time, e.g. 30m or 2h' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l once -d 'Work on one task, then exit. With nothing queued it exits once no other worker holds a task; until then it waits, to take over a task whose worker died'
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l follow -d 'Keep waiting for new tasks when the queue is empty'
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand worker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand say" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand say" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand say" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand say" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand say" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -l no-wait -d 'Return once the request is written, without waiting for the run to stop'
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -l edit -d 'Change the plan in git\'s editor; the next resume follows it'
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand compare" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand compare" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand compare" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand compare" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand compare" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand pick" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand pick" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand pick" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand pick" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand pick" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -l test -d 'The command that passes (exit 0) on a good checkpoint and fails on a bad one' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand bisect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -l remote -d 'Follow the task as this remote shows it (a worker elsewhere runs it)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand fsck" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand fsck" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand fsck" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand fsck" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand fsck" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand config" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand config" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand config" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand config" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand config" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand models" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand models" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand models" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand models" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand models" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -l revoke -d 'Stop trusting the file: remove the record'
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand trust" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -l dir -d 'Keep the sample repository in this directory instead of a temporary one' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand demo" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -l shell -d 'The shell to install for (default: the one $SHELL names)' -r -f -a "bash\t''
elvish\t''
fish\t''
powershell\t''
zsh\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -l install -d 'Install the completions where the shell loads them for you (bash, zsh, fish) and say what to add to the shell\'s startup file, if anything'
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand completions" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -l dir -d 'Install into DIR/man1 (default: <dir of the binary>/../share/man)' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand install-man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand __tasks" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand __tasks" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand __tasks" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand __tasks" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand __tasks" -s h -l help -d 'Print help'
complete -c git-agent -n "__fish_git_agent_using_subcommand mcp" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand mcp" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand mcp" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand mcp" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand mcp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l remote -d 'Show a remote\'s tasks (fetched every --refresh) instead of this repository\'s' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l listen -d 'The address to listen on; anything but 127.0.0.1 or ::1 requires a token' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l token -d 'The token every request must carry (generated and printed when needed and not given)' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l refresh -d 'How often to fetch the remote with --remote' -r
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -s C -d 'Run as if started in this directory' -r -F
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l open -d 'Open the page in the default browser'
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -l json -d 'Print JSON on stdout instead of human output: one object a line, each with a string `type`; a failure is one `error` object (message, hint, exit_code)'
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -s q -l quiet -d 'Print only results and errors, no progress'
complete -c git-agent -n "__fish_git_agent_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "start" -d 'Plan a goal and start working on it in a new task'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "resume" -d 'Continue a task from what git holds'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "rollback" -d 'Move the task branch back; the discarded tip is kept in the attic'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "checkpoint" -d 'Record the task worktree\'s current state as a checkpoint (e.g. after editing by hand)'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "list" -d 'List tasks with state, step, tests and cost'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "status" -d 'Show one task in detail'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "log" -d 'Show the checkpoints of a task with their trailers and records'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "diff" -d 'Show the task\'s whole change against its base'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "merge" -d 'Run the policy checks, then merge the task into its base branch (checked out here)'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "update" -d 'Bring a task up to date with its base branch: merge the base into the task'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "drop" -d 'Delete a task: branch, notes, attic and worktree'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "push" -d 'Push a task\'s branch, notes and attic to a remote'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "pull" -d 'Fetch tasks\' branches, notes and attic from a remote'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "queue" -d 'Put tasks on a shared remote for workers, or show the remote\'s queue'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "worker" -d 'Take queued tasks of a shared remote and work on them, one at a time'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "say" -d 'Tell a task something; a run shows it to the model at its next turn, from any terminal'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "stop" -d 'Stop a task\'s run as Ctrl-C in its terminal does, from any terminal or machine'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "plan" -d 'Print a task\'s plan, or change it with --edit before the next resume'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "compare" -d 'Show a task\'s parallel attempts side by side: tests, tries, diff, cost, time, files'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "pick" -d 'Choose attempt K of a task: it becomes agent/<task>, the others go to the attic'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "bisect" -d 'Find the first checkpoint of a task at which a command fails (git bisect over its checkpoints)'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "watch" -d 'Follow a running task live: steps, tool calls, tests, checkpoints, cost'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "fsck" -d 'Check the agent state in git against the data model and say how to repair each finding'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "config" -d 'Print the effective configuration and where each value came from'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "models" -d 'List the models git-agent knows: prices, context windows, the defaults, and what the configuration here uses'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "trust" -d 'Trust this repository\'s .git-agent.toml, as it is now, to widen what the agent may do'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "demo" -d 'An offline run on a sample repository with a recorded session'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "completions" -d 'Print shell completions, or install them where the shell finds them'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "install-man" -d 'Install the manual page, so that `git help agent` and `git agent --help` show it'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "__tasks" -d 'The task names, newest first, one a line: what the shell completions offer for a task'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "mcp" -d 'Serve the task commands to MCP clients (Claude Code, Codex, Cursor) over stdio'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "serve" -d 'A read-only live web view of every task, from this repository or a remote'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and not __fish_seen_subcommand_from start resume rollback checkpoint list status log diff merge update drop push pull queue worker say stop plan compare pick bisect watch fsck config models trust demo completions install-man __tasks mcp serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "add" -d 'Create a task (as `start --no-run`) and push it to the remote for a worker'
complete -c git-agent -n "__fish_git_agent_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "ls" -d 'Show the remote\'s tasks: queued, claimed, running, done, blocked'

# A task argument completes with the task names of the repository.
complete -c git-agent -n "__fish_git_agent_using_subcommand resume rollback checkpoint status log diff merge update drop say stop plan compare pick bisect watch fsck" -f -a "(git-agent __tasks 2>/dev/null)"
