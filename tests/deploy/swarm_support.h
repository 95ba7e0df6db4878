// What the Docker Swarm end-to-end suites (swarm_e2e, swarm_upgrade_e2e) share: a
// single-node swarm for the test's duration, one stack deployed on it under a unique name,
// and the removal of exactly what the test made, whether it passed or not.
//
// The swarm: the engine's own if it is already a manager; otherwise the test creates one
// (`docker swarm init --advertise-addr 127.0.0.1`). Leaving a swarm takes down every swarm
// network and what is attached to it, so a test leaves only a swarm it created, and only
// when nothing else uses it: no other service, no other swarm network, and no other run of
// these tests (each holds a shared lock on a file in /tmp for as long as it uses the swarm;
// the one that would leave must get it exclusively). Otherwise the swarm stays, and the
// test says so. Skipped, with the reason, where no Docker engine answers or no swarm can be
// had.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "e2e_support.h"

namespace snap::e2e {

// Polls `done` until it holds or `limit` passes (a bound on a stuck engine; the pause
// between polls only spaces the queries out). True if it held.
inline bool poll_until(std::chrono::seconds limit, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return done();
}

struct SwarmWork : DockerWork {
  int swarm_lock = -1;  // shared while this test uses the swarm (see the top of the file)
  bool created_swarm = false;
  bool created_gwbridge = false;  // swarm init's bridge, which `swarm leave` keeps
  bool deployed = false;          // `docker stack deploy` was run: the stack is to be removed
  std::string stack;

  std::string service(const std::string& name) const { return stack + "_" + name; }
  std::string network(const std::string& name) const { return stack + "_" + name; }
  // The running containers of a service on this node.
  std::vector<std::string> containers_of(const std::string& name) const {
    return lines(docker({"ps", "-q", "--filter", "label=com.docker.swarm.service.name=" + service(name)}, 30).out);
  }
  // The states of a service's tasks, newest first ("Running 3 seconds ago", "Complete ...").
  std::vector<std::string> task_states(const std::string& name) const {
    return lines(docker({"service", "ps", "--no-trunc", "--format", "{{.CurrentState}}", service(name)}, 30).out);
  }
  std::vector<std::string> labelled(const std::string& kind) const {
    return lines(docker({kind, "ls", "-q", "--filter", "label=com.docker.stack.namespace=" + stack}, 30).out);
  }

  // Takes the lock and a swarm this engine manages, creating one if the engine is in none.
  // False, with skip_reason set, where none can be had.
  bool enter_swarm() {
    const std::string lock_file = (fs::temp_directory_path() / "snap-swarm-e2e.lock").string();
    swarm_lock = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (swarm_lock < 0 || ::flock(swarm_lock, LOCK_SH) != 0) {
      skip_reason = "cannot lock " + lock_file;
      return false;
    }
    const ProcessResult info = docker({"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"}, 30);
    if (info.exit_code != 0) {
      skip_reason = "no Docker engine reachable (`docker info` failed: " + trim(info.err) + ")";
      return false;
    }
    const std::string state = trim(info.out);
    if (state.rfind("active", 0) == 0) {
      if (state != "active true") {
        skip_reason = "this Docker engine is a swarm worker, not a manager: it cannot deploy a stack";
        return false;
      }
      return true;
    }
    if (state.rfind("inactive", 0) != 0) {
      skip_reason = "the engine's swarm is in state \"" + state + "\"; not touching it";
      return false;
    }
    created_gwbridge = docker({"network", "inspect", "docker_gwbridge"}, 30).exit_code != 0;
    const ProcessResult init = docker({"swarm", "init", "--advertise-addr", "127.0.0.1"}, 60);
    const bool other_made_one =
        init.exit_code != 0 &&
        trim(docker({"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"}, 30).out) == "active true";
    if (init.exit_code != 0 && !other_made_one) {
      skip_reason = "cannot initialise a single-node swarm (`docker swarm init --advertise-addr 127.0.0.1` failed: " +
                    trim(init.err) + ")";
      return false;
    }
    created_swarm = !other_made_one;  // another run made it at the same moment: theirs
    return true;
  }

  // `docker stack deploy` of OUT/docker-stack.yml as `stack`, with the same locally built
  // images (`--resolve-image never`) and this environment. Throws if it fails.
  void deploy_stack() {
    deployed = true;
    must(docker({"stack", "deploy", "--resolve-image", "never", "-c", (out / "docker-stack.yml").string(), stack}, 120),
         "docker stack deploy");
  }

  // Removes the stack and what it made (its containers, then its networks, volumes and
  // secrets), the images and the working directory, and leaves the swarm if this test
  // created it and nothing else uses it; then releases the lock. Whatever happened before.
  void remove_all() {
    if (deployed) {
      docker({"stack", "rm", stack}, 60);
      // `stack rm` returns before its containers are gone; the volumes and the networks
      // can be removed only after them.
      poll_until(std::chrono::seconds(90), [&] {
        return lines(docker({"ps", "-a", "-q", "--filter", "label=com.docker.stack.namespace=" + stack}, 30).out).empty();
      });
      poll_until(std::chrono::seconds(60), [&] {
        for (const char* kind : {"network", "volume", "secret"}) {
          for (const std::string& id : labelled(kind)) docker({kind, "rm", id}, 30);
        }
        return labelled("network").empty() && labelled("volume").empty() && labelled("secret").empty();
      });
    }
    remove_images_and_work();
    if (created_swarm) {
      const std::string busy = swarm_in_use_by_others();
      if (busy.empty()) {
        docker({"swarm", "leave", "--force"}, 60);
        if (created_gwbridge) docker({"network", "rm", "docker_gwbridge"}, 30);
      } else {
        std::cout << "[ NOTE     ] the swarm this test created stays: " << busy << " (`docker swarm leave --force` ends it)\n";
      }
    }
    if (swarm_lock >= 0) ::close(swarm_lock);
    swarm_lock = -1;
  }

  // Why the swarm must not be left now (empty: nothing else uses it). Leaving removes
  // every swarm network, disconnecting whatever is attached to one. Called with this
  // test's own stack gone; on success this run holds the lock exclusively, so no other
  // run can start using the swarm before the leave.
  std::string swarm_in_use_by_others() const {
    if (::flock(swarm_lock, LOCK_EX | LOCK_NB) != 0) return "another run of a swarm test is using it";
    const ProcessResult services = docker({"service", "ls", "-q"}, 30);
    if (services.exit_code != 0) return "`docker service ls` failed: " + trim(services.err);
    if (!lines(services.out).empty()) return std::to_string(lines(services.out).size()) + " other service(s) run on it";
    const ProcessResult networks = docker({"network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}}"}, 30);
    if (networks.exit_code != 0) return "`docker network ls` failed: " + trim(networks.err);
    for (const std::string& n : lines(networks.out)) {
      if (n != "ingress") return "the swarm network " + n + " is not this test's";
    }
    return "";
  }
};

}  // namespace snap::e2e
