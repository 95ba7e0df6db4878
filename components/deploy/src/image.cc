// The image's build context: Dockerfile, .dockerignore, and the users it runs as.
#include <sstream>

#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

namespace {

// FROM and the libraries: self-contained on scratch, or on the base image chosen at build.
void dockerfile_base(std::ostream& out, const DeployOptions& options) {
  if (options.base_image.empty()) {
    out << "# Self-contained: no base image, nothing to pull. image/rootfs holds the program's\n"
           "# shared libraries and loader at the paths they are loaded from; image/etc its users.\n"
           "FROM scratch\n"
           "COPY image/rootfs/ /\n"
           "COPY image/etc/ /etc/\n";
    if (!options.extra_library_dirs.empty()) {
      std::string dirs;
      for (const std::string& d : options.extra_library_dirs) dirs += (dirs.empty() ? "" : ":") + d;
      out << "ENV LD_LIBRARY_PATH=" << dirs << "\n";
    }
  } else {
    out << "# On the base image chosen at build. The program's libraries beyond the C library come\n"
           "# along in /app/lib; the base's C library must be at least as new as the build machine's.\n"
           "FROM "
        << options.base_image
        << "\n"
           "COPY image/lib/ /app/lib/\n"
           "ENV LD_LIBRARY_PATH=/app/lib\n";
  }
}

}  // namespace

std::string dockerfile(const ServiceGraph& g) {
  std::ostringstream out;
  out << header(g.input.app_name);
  dockerfile_base(out, g.options);
  bool any_job = false;
  for (const Service& s : g.services) {
    if (s.kind != ServiceKind::kJob) continue;
    if (!any_job) {
      out << "# Each job's record of its runs, owned by the job's user: a new volume mounted there\n"
             "# takes that owner (docker-compose.yml).\n";
    }
    any_job = true;
    out << "COPY --chown=" << s.uid << ":" << s.uid << " " << job_runs_context(s) << "/ " << job_runs_path(s) << "/\n";
  }
  bool any_recording = false;
  for (const Service& s : g.services) {
    if (!s.records_requests) continue;
    if (!any_recording) {
      out << "# Each API server's recorded requests (episodes), owned by the server's user: a new\n"
             "# volume mounted there takes that owner (docker-compose.yml).\n";
    }
    any_recording = true;
    out << "COPY --chown=" << s.uid << ":" << s.uid << " " << episodes_context(s) << "/ " << episodes_path(s) << "/\n";
  }
  out << "COPY app/" << g.app_file << " /app/" << g.app_file
      << "\n"
         "COPY snapshot.snaplog /app/snapshot.snaplog\n"
         "ENV SNAP_LOG=/app/snapshot.snaplog\n"
         "# Logs as JSON lines with trace ids, for a log pipeline (docs/observability.md).\n"
         "ENV SNAP_LOG_FORMAT=json\n"
         "# Each service runs as its own user (docker-compose.yml); never as root.\n"
         "USER 65534:65534\n"
         "ENTRYPOINT [\"/app/"
      << g.app_file << "\", \"run\"]\n";
  return out.str();
}

std::string dockerignore(const ServiceGraph& g) {
  return header(g.input.app_name) +
         "# Only what the Dockerfile copies is sent to the engine: never state/ or runtime-secrets/,\n"
         "# which hold secret values.\n"
         "*\n"
         "!Dockerfile\n"
         "!app\n"
         "!image\n"
         "!snapshot.snaplog\n";
}

std::string passwd(const ServiceGraph& g) {
  std::string out = "root:x:0:0:root:/nonexistent:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n";
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kDatabase) continue;
    out += s.name + ":x:" + std::to_string(s.uid) + ":" + std::to_string(s.uid) + ":" + s.name +
           ":/nonexistent:/nonexistent\n";
  }
  return out;
}

std::string group(const ServiceGraph& g) {
  std::string out = "root:x:0:\nnogroup:x:65534:\n";
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kDatabase) continue;
    out += s.name + ":x:" + std::to_string(s.uid) + ":\n";
  }
  return out;
}

}  // namespace snap::deploy_plan
