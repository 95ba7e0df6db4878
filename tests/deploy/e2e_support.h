// What the Docker end-to-end suites (deploy_e2e, swarm_e2e, episodes_e2e...) share: a working
// directory, a program (the customer example) built into it, and its images built locally
// (nothing pulled) — the app (FROM scratch), PostgreSQL from the host's binaries, and both again with the
// reachability probe added, which are the images the deployments run. Everything it
// creates is named after one unique tag and removed by remove_images_and_work().
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "subprocess.h"

extern char** environ;

namespace snap::e2e {

namespace fs = std::filesystem;
using testing::ProcessResult;

// A port of the host that nothing listens on now (the kernel's choice for port 0).
inline unsigned short free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("no free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The non-empty lines of `text`.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

inline void must(const ProcessResult& r, const std::string& what) {
  if (r.exit_code != 0) throw std::runtime_error(what + " failed (" + std::to_string(r.exit_code) + "): " + r.err + r.out);
}

struct DockerWork {
  bool available = false;
  std::string skip_reason;
  fs::path work;  // temporary directory: the build output and image contexts
  fs::path out;   // the build directory
  std::string app_image, app_probe_image, pg_image, pg_probe_image;
  std::vector<std::string> images;  // created, to remove
  std::string password;             // the database password's value
  std::map<std::string, std::string> env;  // this process's, plus SNAP_IMAGE and SNAP_POSTGRES_IMAGE

  DockerWork() {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const std::size_t eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }

  // Runs a command with this environment (in the build directory once it exists),
  // bounded by `seconds` (a bound on a hung engine, not a delay).
  ProcessResult run(std::vector<std::string> argv, int seconds = 180) const {
    argv.insert(argv.begin(), {"/usr/bin/timeout", std::to_string(seconds)});
    testing::ProcessOptions options;
    options.environment = env;
    if (!out.empty() && fs::exists(out)) options.working_directory = out;
    return testing::run_process(argv, options);
  }
  ProcessResult docker(std::vector<std::string> args, int seconds = 180) const {
    args.insert(args.begin(), {"/usr/bin/env", "docker"});
    return run(args, seconds);
  }

#ifdef SNAP_CUSTOMER_APP
  // The customer example (build_app_and_images), its database password from
  // customer-server.db.
  void build_customer_and_images(const std::string& unique, const std::string& app_repo, const std::string& pg_repo,
                                 const std::string& work_prefix, const std::vector<std::string>& build_flags = {}) {
    build_app_and_images(SNAP_CUSTOMER_APP, "customer-server.db.password", unique, app_repo, pg_repo, work_prefix,
                         build_flags);
  }
#endif

#if defined(SNAP_POSTGRES_IMAGE_SCRIPT) && defined(SNAP_PROBE)
  // Names everything after `unique` (images APP_REPO:app|probe and PG_REPO:15|probe,
  // WORK_PREFIX-UNIQUE in the temporary directory), builds the program `binary` there and
  // its images. `password_secret` names the database password the build generates (its
  // value is kept in `password`). Without `probes` the deployment runs the app and
  // database images themselves. Throws, naming the step, when one fails.
  // `build_flags` go to `APP build` after --out.
  void build_app_and_images(const std::string& binary, const std::string& password_secret, const std::string& unique,
                            const std::string& app_repo, const std::string& pg_repo, const std::string& work_prefix,
                            const std::vector<std::string>& build_flags = {}, bool probes = true) {
    app_image = app_repo + "-" + unique + ":app";
    app_probe_image = app_repo + "-" + unique + ":probe";
    pg_image = pg_repo + "-" + unique + ":15";
    pg_probe_image = pg_repo + "-" + unique + ":probe";
    make_work(unique, work_prefix);
    env["SNAP_IMAGE"] = probes ? app_probe_image : app_image;
    env["SNAP_POSTGRES_IMAGE"] = probes ? pg_probe_image : pg_image;

    build_program(binary, build_flags);
    password = read_file(out / "state" / "secrets" / password_secret);

    build_app_image(app_image);
    images.push_back(pg_image);
    must(run({SNAP_POSTGRES_IMAGE_SCRIPT, pg_image}), "building the PostgreSQL image");
    if (!probes) return;
    const fs::path probe_context = work / "probe";
    fs::create_directories(probe_context);
    fs::copy_file(SNAP_PROBE, probe_context / "probe");
    for (const auto& [base, probe] : {std::pair{app_image, app_probe_image}, std::pair{pg_image, pg_probe_image}}) {
      std::ofstream(probe_context / "Dockerfile") << "FROM " << base << "\nCOPY probe /probe\n";
      images.push_back(probe);
      must(docker({"build", "-q", "-t", probe, probe_context.string()}), "docker build (probe)");
    }
  }
#endif

  // The working directory, WORK_PREFIX-UNIQUE in the temporary directory, and the build
  // directory in it; from now on remove_images_and_work() has something to remove.
  void make_work(const std::string& unique, const std::string& work_prefix) {
    work = fs::temp_directory_path() / (work_prefix + "-" + unique);
    // Named uniquely too: `docker-compose` run there without a project name would take it.
    out = work / ("out" + unique);
    fs::create_directories(work);
    available = true;
  }

  // `binary build --out OUT BUILD_FLAGS...`, run in the working directory: a first build,
  // or the next one into the same directory. Throws if it fails.
  void build_program(const std::string& binary, const std::vector<std::string>& build_flags = {}) const {
    testing::ProcessOptions in_work;
    in_work.working_directory = work;
    std::vector<std::string> build{binary, "build", "--out", out.string()};
    build.insert(build.end(), build_flags.begin(), build_flags.end());
    must(testing::run_process(build, in_work), fs::path(binary).filename().string() + " build");
  }

  // `docker build` of the build directory as `image` (removed with the others). Throws if it fails.
  void build_app_image(const std::string& image) {
    images.push_back(image);
    must(docker({"build", "-q", "-t", image, out.string()}), "docker build (app)");
  }

  // The images it created and its working directory; nothing else.
  void remove_images_and_work() const {
    if (!available) return;
    for (const std::string& image : images) docker({"rmi", "-f", image}, 60);
    std::error_code ignored;
    fs::remove_all(work, ignored);
  }
};

// A DockerWork deployed with docker-compose as one project (named uniquely by the test).
struct ComposeWork : DockerWork {
  std::string project;

  // docker-compose -p PROJECT -f OUT/docker-compose.yml ARGS..., bounded by `seconds`.
  ProcessResult compose(std::vector<std::string> args, int seconds = 180) const {
    std::vector<std::string> argv{"/usr/bin/env", "docker-compose", "-p", project, "-f",
                                  (out / "docker-compose.yml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, seconds);
  }
  std::string container_of(const std::string& service) const { return trim(compose({"ps", "-q", service}).out); }
};

}  // namespace snap::e2e
