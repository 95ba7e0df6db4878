// `snapshot`: tools for snapshot logs. A thin dispatcher: the work is in the library
// (snap/log_inspect.h); every subcommand is listed once, in kSubcommands below.
//
// Exit status (also in `snapshot --help` and docs/inspect.md):
//   0  ok
//   2  the log is unusable (not found, not a log, incompatible, incomplete, truncated,
//      corrupt, I/O, or too large to process in the memory available); its one-line
//      message is the only thing on stderr
//   64 usage error (EX_USAGE from sysexits.h)
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "snap/log.h"
#include "snap/log_inspect.h"

namespace {

constexpr int kExitLogError = 2;
constexpr int kExitUsage = 64;

// A subcommand declares its arguments on `cmd` and returns what runs it once parsed. The
// returned function may throw snap::LogError; main() turns that into exit status 2.
using Run = std::function<int()>;
using Define = Run (*)(CLI::App& cmd);

Run define_inspect(CLI::App& cmd) {
  // Shared with the returned closure; it outlives parsing.
  struct Args {
    std::string log;
    std::string kind, key;
    bool summary = false;
    bool json = false;
    snap::InspectOptions options;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("log", args->log, "Snapshot log")->required();
  cmd.add_option("--kind", args->kind, "Only events of exactly this kind");
  cmd.add_option("--key", args->key, "Only events whose key contains this text");
  cmd.add_option("--from", args->options.from, "First event index to show (inclusive, default 0)");
  cmd.add_option("--to", args->options.to, "Stop before this event index (exclusive, default: the end)");
  cmd.add_flag("--summary,--no-events", args->summary, "Header, counts and manifest only; no event list");
  cmd.add_flag("--json", args->json, "One JSON document (header, counts, manifest, events), for scripts");
  return [args]() {
    snap::InspectOptions options = args->options;
    if (!args->kind.empty()) options.kind = args->kind;
    if (!args->key.empty()) options.key_contains = args->key;
    options.list_events = !args->summary;
    if (args->json) {
      snap::inspect_json(args->log, options, std::cout);
    } else {
      snap::inspect_text(args->log, options, std::cout);
    }
    return 0;
  };
}

struct Subcommand {
  const char* name;
  const char* description;
  Define define;
};

// Every subcommand, in the order `snapshot --help` lists them. (Planned: diff, verify.)
constexpr Subcommand kSubcommands[] = {
    {"inspect", "Show a log's header, event counts, component manifest and events", define_inspect},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"snapshot: tools for snapshot logs"};
  cli.set_version_flag("--version", "snapshot 0.1.0");
  cli.footer(
      "Exit status: 0 ok; 2 the log is unusable (not found, not a snapshot log, incompatible, "
      "incomplete, truncated, corrupt, I/O error, out of memory), with its one-line error on stderr; "
      "64 usage error.");
  cli.require_subcommand(1);

  std::vector<std::pair<CLI::App*, Run>> commands;
  for (const Subcommand& s : kSubcommands) {
    CLI::App* cmd = cli.add_subcommand(s.name, s.description);
    commands.emplace_back(cmd, s.define(*cmd));
  }

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : kExitUsage;
  }

  for (auto& [cmd, run] : commands) {
    if (!cmd->parsed()) continue;
    try {
      return run();
    } catch (const snap::LogError& e) {
      std::cout.flush();
      std::cerr << e.what() << '\n';
      return kExitLogError;
    } catch (const std::bad_alloc&) {
      // The reader's limits bound what a log can make it hold, but a machine (or a ulimit)
      // may still have less: an error, not an abort. Nothing allocates on this path.
      std::cout.flush();
      std::cerr << "snapshot " << cmd->get_name() << ": out of memory: the log is too large for the memory available\n";
      return kExitLogError;
    }
  }
  return kExitUsage;
}
