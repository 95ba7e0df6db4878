// `snapshot`: tools for snapshot logs. A thin dispatcher: the work is in the library
// (snap/log_inspect.h); every subcommand is registered in main() below.
//
// Exit status: 0 ok, 2 the log is unusable (its one-line error on stderr), 64 usage error.
#include <CLI/CLI.hpp>
#include <iostream>

#include "snap/log.h"
#include "snap/log_inspect.h"

namespace {

constexpr int kExitLogError = 2;
constexpr int kExitUsage = 64;

int run_inspect(const std::string& log, const snap::InspectOptions& options, bool json) {
  if (json) {
    snap::inspect_json(log, options, std::cout);
  } else {
    snap::inspect_text(log, options, std::cout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"snapshot: inspect snapshot logs"};
  cli.set_version_flag("--version", "snapshot 0.1.0");
  cli.footer("Exit status: 0 ok, 2 the log is unusable (corrupt, truncated, incomplete, ...), 64 usage error.");
  cli.require_subcommand(1);

  std::string log;
  snap::InspectOptions options;
  bool json = false, summary = false;
  std::string kind, key;
  auto* inspect = cli.add_subcommand("inspect", "Show a log's header, event counts, component manifest and events");
  inspect->add_option("log", log, "Snapshot log")->required();
  inspect->add_option("--kind", kind, "Only events of exactly this kind");
  inspect->add_option("--key", key, "Only events whose key contains this text");
  inspect->add_option("--from", options.from, "First event index to show (inclusive)");
  inspect->add_option("--to", options.to, "Stop before this event index (exclusive)");
  inspect->add_flag("--summary", summary, "Header, counts and manifest only; no event list");
  inspect->add_flag("--json", json, "One JSON document, for scripts");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (!kind.empty()) options.kind = kind;
  if (!key.empty()) options.key_contains = key;
  options.list_events = !summary;

  try {
    if (*inspect) return run_inspect(log, options, json);
  } catch (const snap::LogError& e) {
    std::cerr << e.what() << std::endl;
    return kExitLogError;
  }
  return kExitUsage;
}
