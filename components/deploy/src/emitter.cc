// deployment_emitter: the plan for a finished build, written into its staging directory
// with what the plan names but cannot hold: this very binary, its shared libraries, the
// databases' password files, and secret files owned by the services that read them.
// Every file it writes, and the objcopy it runs, go through the app's Env.
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <set>

#include <boost/json.hpp>

#include "snap/app.h"
#include "snap/component_type.h"
#include "snap/deploy.h"
#include "snap/env.h"
#include "snap/persona.h"

namespace snap {

namespace {

namespace fs = std::filesystem;

constexpr fs::perms kExecutable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec;
constexpr fs::perms kReadable =
    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;

// The shared objects this process loaded (the program's closure: the build is the
// program itself) and its loader, by the paths the loader used.
int collect_object(dl_phdr_info* info, std::size_t, void* out) {
  auto* paths = static_cast<std::set<std::string>*>(out);
  if (info->dlpi_name != nullptr && info->dlpi_name[0] == '/') paths->insert(info->dlpi_name);
  if (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') {  // the main program: its PT_INTERP
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      if (info->dlpi_phdr[i].p_type == PT_INTERP) {
        paths->insert(reinterpret_cast<const char*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
      }
    }
  }
  return 0;
}

std::set<std::string> loaded_objects() {
  std::set<std::string> paths;
  dl_iterate_phdr(collect_object, &paths);
  return paths;
}

// Directories the loader searches without a cache or LD_LIBRARY_PATH.
bool default_library_dir(const std::string& dir) {
  if (dir == "/lib" || dir == "/usr/lib" || dir == "/lib64" || dir == "/usr/lib64") return true;
  for (const char* prefix : {"/lib/", "/usr/lib/"}) {
    const std::string p = prefix;
    if (dir.rfind(p, 0) == 0 && dir.find('/', p.size()) == std::string::npos && dir.find("-linux-") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// The C library's own objects: on a base image they are the base's.
bool part_of_libc(const std::string& file) {
  for (const char* prefix : {"libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "libresolv.so",
                             "libutil.so", "libanl.so", "ld-linux", "libnss_", "libmvec.so", "libBrokenLocale",
                             "libthread_db"}) {
    if (file.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// objcopy --strip-debug FROM TO; false when objcopy is missing or fails.
bool strip_debug(Env& env, const fs::path& from, const fs::path& to) {
  return env.run_program({"objcopy", "--strip-debug", from.string(), to.string()}, "").status == 0;
}

// The service a build flag names: a persona by its id or its name as `run` takes it
// (App::find_persona: its id, its scoped name, or a short name only one persona has), a database by its id; anything
// else is taken as a service name, which the plan checks. A short name several personas
// have is a DeployError naming the flag, like a name that is no service.
std::string service_named(const App& app, const std::string& flag, const std::string& name) {
  const Persona* persona = nullptr;
  try {
    persona = app.find_persona(name);
  } catch (const std::invalid_argument& ambiguous) {
    throw DeployError("deploy: " + flag + ": " + ambiguous.what());
  }
  if (persona != nullptr) return persona->id().service_name();
  for (const Component* c : app.components()) {
    if (component_type_of(c->type()) == ComponentType::kPostgres && c->id().str() == name) return c->id().service_name();
  }
  return name;
}

// A build flag's per-service values (`--replicas`, `--publish`, a limit for one service)
// by the service each name stands for; two names for one service with different values
// are a DeployError ("--replicas gives api both 2 and 3 replicas").
template <typename Value>
void add_by_service(const App& app, const std::string& flag, const std::string& name, Value value,
                    std::map<std::string, Value>& per_service, const std::string& unit = "") {
  const std::string service = service_named(app, flag, name);
  const auto [it, added] = per_service.emplace(service, value);
  if (!added && it->second != value) {
    throw DeployError("deploy: " + flag + " gives " + service + " both " + std::to_string(it->second) + " and " +
                      std::to_string(value) + unit);
  }
}

// `--memory-limit`/`--pids-limit` into the options: the empty name is every service's.
void set_limits(const App& app, const std::string& flag, const std::map<std::string, std::uint64_t>& given,
                std::uint64_t& every, std::map<std::string, std::uint64_t>& per_service) {
  for (const auto& [name, limit] : given) {
    if (name.empty()) {
      every = limit;
    } else {
      add_by_service(app, flag, name, limit, per_service);
    }
  }
}

// The options for this build: the emitter's defaults, what the build's flags set (by the
// service they name), and the library directories of the objects it copies.
DeployOptions options_for(const App& app, const BuildOptions& build, DeployOptions options,
                          const std::set<std::string>& objects) {
  if (!build.base_image.empty()) options.base_image = build.base_image;
  if (!build.endpoint_mode.empty()) options.endpoint_mode = build.endpoint_mode;
  if (build.observability) options.observability = true;
  options.record_requests = build.record_requests;
  for (const auto& [name, port] : build.published) add_by_service(app, "--publish", name, port, options.published);
  for (const auto& [name, count] : build.replicas) {
    add_by_service(app, "--replicas", name, count, options.replicas, " replicas");
  }
  set_limits(app, "--memory-limit", build.memory_limits, options.memory_limit_bytes, options.memory_limits_bytes);
  set_limits(app, "--pids-limit", build.pids_limits, options.pids_limit, options.pids_limits);
  std::set<std::string> extra_dirs;
  for (const std::string& object : objects) {
    const std::string parent = fs::path(object).parent_path().string();
    if (!default_library_dir(parent)) extra_dirs.insert(parent);
  }
  if (options.base_image.empty()) options.extra_library_dirs.assign(extra_dirs.begin(), extra_dirs.end());
  return options;
}

DeployInput input_for(Env& env, const App& app, const BuildOptions& build) {
  DeployInput input = deploy_input(app.manifest());
  // The previous build (still in place: the new one is being staged beside it).
  const fs::path previous = fs::absolute(build.out_dir) / "state" / "deploy.json";
  if (env.file_type(previous) == FileType::kRegular) {
    boost::system::error_code ec;
    input.previous = boost::json::parse(env.read_file(previous), ec);
    if (ec) input.previous = nullptr;  // unreadable: no orphan report rather than a failed build
  }
  return input;
}

void write_plan_files(Env& env, const fs::path& dir, const DeployPlan& plan) {
  for (const DeployFile& file : plan.files) {
    write_file(env, dir / file.path, file.content, file.executable ? kExecutable : kReadable);
  }
  for (const std::string& directory : plan.directories) env.create_directories(dir / directory);
}

// The binary (without its debug sections when it can), and the shared objects it loaded
// where the image's loader finds them.
void write_binary_and_libraries(Env& env, const fs::path& dir, const DeployPlan& plan, const DeployOptions& options,
                                const std::set<std::string>& objects) {
  const fs::path binary = dir / plan.binary;
  env.create_directories(binary.parent_path());
  // This process's binary, named so that another process (objcopy) opens it too.
  const fs::path self = "/proc/" + std::to_string(::getpid()) + "/exe";
  if (!options.strip_debug || !strip_debug(env, self, binary)) copy_file(env, self, binary, kExecutable);
  env.set_permissions(binary, kExecutable);
  for (const std::string& object : objects) {
    const fs::path name = fs::path(object).filename();
    fs::path target;
    if (options.base_image.empty()) {
      target = dir / "image" / "rootfs" / fs::path(object).relative_path();
    } else if (!part_of_libc(name.string())) {
      target = dir / "image" / "lib" / name;
    } else {
      continue;
    }
    env.create_directories(target.parent_path());
    copy_file(env, object, target, kExecutable);  // follows symlinks: the real file
  }
  env.create_directories(dir / "image" / (options.base_image.empty() ? "rootfs" : "lib"));
}

// Secrets: each service's files readable by that service's uid, and no other.
void write_secret_files(Env& env, const fs::path& dir, const DeployPlan& plan) {
  const bool root = ::geteuid() == 0;
  for (const DeploySecretFile& secret : plan.secret_files) {
    const fs::path path = dir / secret.path;
    if (secret.copy_from_state) {
      const fs::path stored = dir / "state" / "secrets" / secret.secret;
      env.create_directories(path.parent_path());
      env.set_permissions(path.parent_path(), fs::perms::owner_all);
      write_file(env, path, env.read_file(stored), fs::perms::owner_read | fs::perms::owner_write);
    }
    if (!env.file_exists(path)) throw DeployError("deploy: the secret file " + path.string() + " is missing");
    if (root) {
      env.set_owner(path, secret.uid, secret.uid);
      env.set_permissions(path, fs::perms::owner_read);
    } else {
      // Compose (without swarm) mounts the host file with its owner and mode; a builder
      // that cannot chown makes it readable, and its 0700 directory keeps other host
      // users out. Each container still mounts only its own secrets.
      env.set_permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    }
  }
}

}  // namespace

DeployInput deploy_input(const Manifest& manifest) {
  DeployInput input;
  // The root component (the app) comes first; its id is the app's name.
  if (!manifest.components.empty()) input.app_name = manifest.components.front().id;
  input.components = manifest.components;
  return input;
}

BuildEmitter deployment_emitter(DeployOptions defaults) {
  return [defaults](const App& app, const BuildOptions& build, const fs::path& dir) {
    const std::set<std::string> objects = loaded_objects();
    const DeployOptions options = options_for(app, build, defaults, objects);
    Env& env = app.env();
    const DeployInput input = input_for(env, app, build);
    const DeployPlan plan = plan_deployment(input, options);
    write_plan_files(env, dir, plan);
    write_plan_files(env, dir, DeployPlan{plan_kubernetes(input, options)});
    write_binary_and_libraries(env, dir, plan, options, objects);
    write_secret_files(env, dir, plan);
    for (const std::string& line : plan.orphaned_volumes) std::cerr << "snap: deploy: " << line << std::endl;
    std::cerr << "snap: deploy: wrote Dockerfile (" << (options.base_image.empty() ? "self-contained" : options.base_image)
              << "), docker-compose.yml, docker-stack.yml, kubernetes/; run: docker-compose -f "
              << (fs::absolute(build.out_dir) / "docker-compose.yml").string()
              << " up -d --build --remove-orphans (one host; the same to upgrade) or docker stack deploy -c " << (fs::absolute(build.out_dir) / "docker-stack.yml").string()
              << " STACK (a swarm) or " << (fs::absolute(build.out_dir) / "bin" / "kube" / "apply").string()
              << " (Kubernetes)" << std::endl;
  };
}

}  // namespace snap
