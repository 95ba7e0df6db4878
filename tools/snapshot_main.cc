// `snapshot`: tools for snapshot logs. A thin dispatcher: the work is in the libraries
// (snap/log_inspect.h, snap/log_diff.h, snap/log_graph.h, snap/system_view.h); every
// subcommand is listed once, in kSubcommands below.
//
// Exit status (also in `snapshot --help` and docs/tools.md):
//   0  ok (diff: no differences)
//   1  diff: the logs differ; graph: `dot` failed or is not installed, or -o FILE cannot be written;
//      any: standard output cannot be written (a full disk, /dev/full), said on stderr
//   2  the log is unusable (not found, not a log, incompatible, incomplete, truncated,
//      corrupt, I/O, or too large to process in the memory available); its one-line
//      message is the only thing on stderr
//   64 usage error (EX_USAGE from sysexits.h)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "snap/env.h"
#include "snap/episode.h"
#include "snap/log.h"
#include "snap/log_diff.h"
#include "snap/log_graph.h"
#include "snap/log_inspect.h"
#include "snap/log_reader.h"
#include "snap/standard_output.h"
#include "snap/system_view.h"
#include "snap/text.h"

namespace {

constexpr int kExitDiffers = 1;
constexpr int kExitToolFailed = 1;
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
    bool manifest = false;
    bool json = false;
    snap::InspectOptions options;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("log", args->log,
                 "The log, or a build directory holding snapshot.snaplog; an episode, or a directory of them")
      ->required();
  cmd.add_option("--kind", args->kind, "Only events of exactly this kind");
  cmd.add_option("--key", args->key, "Only events whose key contains this text");
  cmd.add_option("--from", args->options.from, "First event index to show (inclusive, default 0)");
  cmd.add_option("--to", args->options.to, "Stop before this event index (exclusive, default: the end)");
  cmd.add_flag("--summary,--no-events", args->summary, "Header, counts and manifest only; no event list");
  cmd.add_flag("--manifest", args->manifest, "Only the component tree (JSON: only the manifest array)");
  cmd.add_flag("--json", args->json, "One JSON document (header, counts, manifest, personas, events), for scripts");
  cmd.footer(
      "Examples:\n"
      "  snapshot inspect build/app/snapshot.snaplog   (or the build directory: build/app)\n"
      "  snapshot inspect --summary LOG          header, counts, components, personas\n"
      "  snapshot inspect --manifest LOG         the component tree only\n"
      "  snapshot inspect --kind env --json LOG  env reads, as JSON\n"
      "  snapshot inspect EPISODE                one recorded request: its inputs and response\n"
      "  snapshot inspect --summary DIR          every episode in DIR, one line each\n"
      "Exit status: 0 ok; 1 standard output cannot be written; 2 the log is unusable; 64 usage error.");
  return [args]() {
    snap::Env& env = snap::real_env();
    // Episodes (docs/episodes.md): a directory of them without a build's log, or one.
    const auto holds_episodes = [&] {
      for (const std::string& name : env.list_directory(args->log)) {
        if (name.ends_with(".episode")) return true;
      }
      return false;
    };
    const bool episode_dir = env.file_type(args->log) == snap::FileType::kDirectory &&
                             env.file_type(std::filesystem::path(args->log) / snap::kLogFileName) ==
                                 snap::FileType::kMissing &&
                             holds_episodes();
    if (episode_dir) {
      std::vector<snap::EpisodeSummary> listed;
      for (const auto& file : snap::episode_files(args->log, env)) listed.push_back(snap::summarize(snap::read_episode(file, env)));
      if (args->json) {
        for (const auto& e : listed) std::cout << snap::summary_json(e) << "\n";
      } else {
        std::cout << snap::summary_table(listed);
      }
      return 0;
    }
    if (env.file_type(args->log) == snap::FileType::kRegular &&
        snap::LogReader::open(args->log)->header().kind == snap::kEpisodeLogKind) {
      const snap::LoadedEpisode episode = snap::read_episode(args->log, env);
      std::cout << (args->json ? snap::episode_json(episode) + "\n" : snap::describe_episode(episode));
      return 0;
    }
    args->log = snap::log_file_at(args->log).string();
    snap::InspectOptions options = args->options;
    options.manifest_only = args->manifest;
    if (!args->manifest) {
      // Who receives which secrets and reaches what: computed from the manifest with the
      // runtime's rules (snap/system_view.h).
      const snap::Manifest manifest = snap::LogReader::open(args->log)->manifest();
      for (const snap::PersonaView& p : snap::system_view(manifest).personas) {
        options.personas.push_back({p.id, p.secrets, p.reachable});
      }
    }
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

Run define_diff(CLI::App& cmd) {
  struct Args {
    std::string old_log, new_log;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("old", args->old_log, "The old log, or a build directory holding snapshot.snaplog")->required();
  cmd.add_option("new", args->new_log, "The new log, or a build directory")->required();
  cmd.add_flag("--json", args->json, "One JSON document with every section, for scripts");
  cmd.footer(
      "Shows components added (+), removed (-) and changed (~, before -> after), persona changes\n"
      "(secrets, what each reaches), startup inputs that differ (aligned by kind and key), and the\n"
      "deployment plan's changes: services, volumes orphaned, stores removed, secrets, reachability.\n"
      "Examples:\n"
      "  snapshot diff build-yesterday/ build/\n"
      "  snapshot diff --json old.snaplog new.snaplog | jq .plan\n"
      "Exit status: 0 no differences; 1 the logs differ; 2 a log is unusable; 64 usage error\n"
      "(1 too when standard output cannot be written).");
  return [args]() {
    const snap::LogDiff diff = snap::diff_logs(args->old_log, args->new_log);
    if (args->json) {
      snap::diff_json(diff, std::cout);
    } else {
      snap::diff_text(diff, std::cout);
    }
    return diff.differs() ? kExitDiffers : 0;
  };
}

// Writes `content` to `out` (its directory must exist); false (said on stderr) when it cannot.
bool write_out(snap::Env& env, const std::string& out, std::string_view content) {
  try {
    auto file = env.create_file(out, std::filesystem::perms(0644));
    file->append(content);
    file->close();
    return true;
  } catch (const snap::FileError& e) {
    std::cerr << "snapshot graph: cannot write " << snap::printable(out) << ": " << e.code().message() << "\n";
    return false;
  }
}

Run define_graph(CLI::App& cmd) {
  struct Args {
    std::string log;
    std::string format = "dot";
    std::string out;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("log", args->log,
                 "The log, or a build directory holding snapshot.snaplog; an episode, or a directory of them")
      ->required();
  cmd.add_option("--format", args->format, "dot (default, text on stdout), svg or png (through Graphviz's `dot`)")
      ->check(CLI::IsMember({"dot", "svg", "png"}));
  cmd.add_option("-o,--out", args->out, "Write here instead of stdout (required for svg and png)");
  cmd.footer(
      "Draws personas, stores, servers (port, endpoints), secrets and `uses` edges, grouped by Id subtree.\n"
      "Examples:\n"
      "  snapshot graph build/app | dot -Tsvg > app.svg\n"
      "  snapshot graph --format svg -o app.svg build/app\n"
      "Exit status: 0 ok; 1 `dot` is not installed or failed, or FILE or standard output cannot be written;\n"
      "2 the log is unusable; 64 usage error.");
  return [args]() {
    snap::Env& env = snap::real_env();
    const std::filesystem::path log = snap::log_file_at(args->log, env);
    const std::string dot = snap::graph_dot(snap::LogReader::open(log)->manifest());
    if (args->format == "dot") {
      if (args->out.empty()) {
        std::cout << dot;
        return 0;
      }
      return write_out(env, args->out, dot) ? 0 : kExitToolFailed;
    }
    if (args->out.empty()) {
      std::cerr << "snapshot graph: --format " << args->format << " needs -o FILE\n";
      return kExitUsage;
    }
    const snap::Env::ProgramResult rendered = env.run_program({"dot", "-T" + args->format}, dot);
    if (rendered.status != 0) {
      std::cerr << "snapshot graph: `dot -T" << args->format
                << "` failed or is not installed (Debian: apt-get install graphviz); `--format dot` needs nothing\n";
      return kExitToolFailed;
    }
    return write_out(env, args->out, rendered.output) ? 0 : kExitToolFailed;
  };
}

struct Subcommand {
  const char* name;
  const char* description;
  Define define;
};

// Every subcommand, in the order `snapshot --help` lists them.
constexpr Subcommand kSubcommands[] = {
    {"inspect", "Show a log's header, event counts, component manifest, personas and events", define_inspect},
    {"diff", "Compare two builds: components, personas, startup inputs and the deployment plan", define_diff},
    {"graph", "Draw the component graph as Graphviz DOT (or SVG/PNG through `dot`)", define_graph},
};

int run_tool(int argc, char** argv) {
  CLI::App cli{"snapshot: tools for snapshot logs"};
  // Parse errors echo the arguments: a file name may hold terminal escapes.
  cli.failure_message([](const CLI::App*, const CLI::Error& e) {
    return snap::printable(e.what()) + "\nRun with --help for more information.\n";
  });
  cli.set_version_flag("--version", "snapshot 0.1.0");
  cli.footer(
      "Examples:\n"
      "  snapshot inspect build/app/snapshot.snaplog\n"
      "  snapshot diff build-old/ build/\n"
      "  snapshot graph --format svg -o app.svg build/app\n"
      "Exit status: 0 ok (diff: same); 1 diff: the logs differ, graph: `dot` failed, any: standard output "
      "cannot be written; 2 the log is unusable "
      "(not found, not a snapshot log, incompatible, incomplete, truncated, corrupt, I/O error, out of "
      "memory), with its one-line error on stderr; 64 usage error.");
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
      std::cerr << e.what() << '\n';  // its path is shown printable by the reader
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

}  // namespace

int main(int argc, char** argv) {
  // Output that never reached stdout (a full disk, /dev/full) is an error, --help included.
  return snap::finish_standard_output("snapshot", run_tool(argc, argv));
}
