// Job runs recorded per build: a deployment runs a job once for each build it deploys,
// not each time its container is started again (docs/deploy.md, "Jobs run once per build").
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "lifecycle_private.h"
#include "snap/env.h"
#include "snap/log_reader.h"
#include "snap/persona.h"

namespace snap {

namespace {

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

std::filesystem::path job_run_record(Env& env, const std::filesystem::path& dir, const std::filesystem::path& log) {
  // The build is its log (every recorded input) and the binary that wrote it.
  const auto reader = LogReader::open(log, {}, env);
  return dir / ("build-" + hex(reader->trailer().digest) + "-" + hex(fnv1a64(reader->header().binary_fingerprint)));
}

void record_job_run(Env& env, const std::filesystem::path& record, const Persona& job) {
  // Under a temporary name, then renamed: a record is complete or absent.
  const std::filesystem::path temporary = record.string() + ".tmp" + std::to_string(::getpid());
  try {
    auto out = env.create_file(temporary, std::filesystem::perms(0644));
    out->append("job " + job.id().str() + " ran to completion for this build\n");
    out->close();
    env.rename(temporary, record);
    return;
  } catch (const FileError& e) {
    try {
      env.remove_all(temporary);
    } catch (const FileError&) {  // the report below is what matters
    }
    std::cerr << "snap: job " << job.id().name() << " succeeded, but its run could not be recorded in "
              << record.parent_path().string() << " (" << e.what()
              << "): the next start of its container runs it again" << std::endl;
  }
}

}  // namespace snap
