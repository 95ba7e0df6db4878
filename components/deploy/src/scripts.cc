// The scripts of bin/ and the volume state a build leaves for the next one.
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "text.h"
#include "writers.h"

namespace snap::deploy_plan {

// bin/NAME: a command, or a job run again, in its own container (its secrets and networks
// only) against the running deployment. Which one: $COMPOSE_PROJECT_NAME, else the one
// compose project that runs this app from this directory (compose labels each container
// with its project and working directory, the compose file with snap.app). Starting none
// itself: `docker-compose run` in a project that is not up would start a second, empty
// deployment (named after the directory) and the command would run against it.
std::string command_script(const ServiceGraph& g, const Service& s) {
  const bool job = s.kind == ServiceKind::kJob;
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name) << "# Runs the " << (job ? "job " : "command ") << s.component->id
      << (job ? " again" : " once")
      << ", in its own container (its secrets, its networks\n"
         "# only), against the running deployment, and exits with its status.\n"
         "# Usage: bin/"
      << s.name
      << " [ARGS...]\n"
         "# The deployment: $COMPOSE_PROJECT_NAME, else the one running from this directory. With\n"
         "# none running it refuses (status 69), with several too (status 64), saying how to name one.\n"
         "here=$(cd \"$(dirname \"$0\")/..\" && pwd -P) || exit 1\n"
         "app="
      << shell_quote(g.input.app_name)
      << "\n"
         "found=$(docker ps --filter \"label=snap.app=$app\" --filter label=com.docker.compose.oneoff=False \\\n"
         "  --format '{{.Label \"com.docker.compose.project\"}} {{.Label \"com.docker.compose.project.working_dir\"}}') || exit 1\n"
         "running= mine= named= choices=\n"
         "while read -r project dir; do\n"
         "  [ -n \"$project\" ] || continue\n"
         "  case \" $running \" in *\" $project \"*) continue ;; esac\n"
         "  running=\"${running:+$running }$project\"\n"
         "  choices=\"$choices\n  COMPOSE_PROJECT_NAME=$project $0 ...   (running from $dir)\"\n"
         "  [ \"$project\" = \"${COMPOSE_PROJECT_NAME:-}\" ] && named=$project\n"
         "  [ \"$(cd \"$dir\" 2>/dev/null && pwd -P)\" = \"$here\" ] && mine=\"${mine:+$mine }$project\"\n"
         "done <<EOF\n"
         "$(printf '%s\\n' \"$found\" | sort)\n"
         "EOF\n"
         "refuse() {\n"
         "  echo \"$0: $2\" >&2\n"
         "  if [ -n \"$running\" ]; then\n"
         "    echo \"name the deployment to run against:$choices\" >&2\n"
         "  else\n"
         "    echo \"start it first: docker-compose -p NAME -f $here/docker-compose.yml up -d, then\" \\\n"
         "      \"COMPOSE_PROJECT_NAME=NAME $0 ...\" >&2\n"
         "  fi\n"
         "  exit \"$1\"\n"
         "}\n"
         "if [ -n \"${COMPOSE_PROJECT_NAME:-}\" ]; then\n"
         "  [ -n \"$named\" ] || refuse 69 \"no deployment of $app named $COMPOSE_PROJECT_NAME (\\$COMPOSE_PROJECT_NAME) is running\"\n"
         "  project=$named\n"
         "else\n"
         "  case $mine in\n"
         "    \"\") refuse 69 \"no deployment of $app from $here is running\" ;;\n"
         "    *\" \"*) refuse 64 \"several deployments of $app from $here are running ($mine)\" ;;\n"
         "  esac\n"
         "  project=$mine\n"
         "fi\n"
         "tty=\n"
         "[ -t 0 ] && [ -t 1 ] || tty=-T\n"
         "exec docker-compose -p \"$project\" -f \"$here/docker-compose.yml\" run --rm $tty "
      << s.name << (job ? " --again " : " ") << shell_quote(s.component->id) << " \"$@\"\n";
  return out.str();
}

// The swarm twin of command_script(): the command as a one-off swarm job (Docker 20.10's
// replicated-job mode) with the image, user, hardening, networks and secrets its
// service has in docker-stack.yml; its output is the task's log, its status the task's.
std::string stack_command_script(const ServiceGraph& g, const Service& s) {
  const std::string uid = std::to_string(s.uid);
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name) << "# Runs the command " << s.component->id
      << " once on a swarm, as a job of its own (its secrets, its networks\n"
         "# only), against the stack deployed from docker-stack.yml, and exits with the command's\n"
         "# status. Its output is the job's log: stdout and stderr, shown once it has finished.\n"
         "# The job is removed when it ends (and with the stack: `docker stack rm` takes it too).\n"
         "# Usage: bin/stack/"
      << s.name
      << " STACK [ARGS...]   (image: $SNAP_IMAGE, as for the stack)\n"
         "[ $# -ge 1 ] || { echo \"usage: $0 STACK [ARGS...]\" >&2; exit 64; }\n"
         "stack=$1\n"
         "shift\n"
         "job=\"${stack}_"
      << s.name
      << "-run-$$\"\n"
         "docker service create --quiet --detach --no-resolve-image --mode replicated-job \\\n"
         "  --restart-condition none --name \"$job\" --label \"com.docker.stack.namespace=$stack\" \\\n"
         "  --user "
      << uid << ":" << uid
      << " --read-only --cap-drop ALL --init \\\n"
         "  --mount type=tmpfs,target=/tmp \\\n";
  for (const std::string& n : stack_networks(s)) out << "  --network \"${stack}_" << n << "\" \\\n";
  for (const auto& [name, value] : service_environment(g, s)) {
    out << "  --env " << shell_quote(name + "=" + value) << " \\\n";
  }
  for (const DeploySecretFile* f : secrets_of(g, s)) {
    out << "  --secret \"source=${stack}_" << stack_secret_key(*f) << ",target=" << f->secret << ",uid=" << uid
        << ",gid=" << uid << ",mode=0400\" \\\n";
  }
  out << "  \"${SNAP_IMAGE:-snap-" << g.app_file << "}\" " << shell_quote(s.component->id)
      << " \"$@\" >/dev/null || exit 1\n"
         "trap 'docker service rm \"$job\" >/dev/null 2>&1' EXIT\n"
         "trap 'exit 130' INT TERM\n"
         "while :; do\n"
         "  state=$(docker service ps --format '{{.CurrentState}}' \"$job\" 2>/dev/null | head -n 1)\n"
         "  case $state in Complete*|Failed*|Rejected*|Shutdown*|Orphaned*) break ;; esac\n"
         "  sleep 0.2\n"
         "done\n"
         "docker service logs --raw \"$job\"\n"
         "case $state in Complete*) exit 0 ;; esac\n"
         "task=$(docker service ps -q --no-trunc \"$job\" | head -n 1)\n"
         "status=$(docker inspect --format '{{.Status.ContainerStatus.ExitCode}}' \"$task\" 2>/dev/null)\n"
         "[ -n \"$status\" ] && [ \"$status\" != 0 ] && exit \"$status\"\n"
         "echo \"$0: the job ended $state\" >&2\n"
         "exit 1\n";
  return out.str();
}

// Volumes of earlier builds that this build no longer has keep their data; the build
// says so and bin/remove-orphans removes them.
void add_volume_state(const ServiceGraph& g, DeployPlan& plan) {
  std::map<std::string, std::string> volumes, orphaned;
  for (const Service& s : g.services) {
    if (s.kind == ServiceKind::kDatabase) volumes[volume_of(s)] = s.component->id;
  }
  auto collect = [&](const char* key) {
    if (!g.input.previous.is_object()) return;
    const auto* v = g.input.previous.as_object().if_contains(key);
    if (!v || !v->is_object()) return;
    for (const auto& [volume, id] : v->as_object()) {
      if (!volumes.count(volume) && id.is_string()) orphaned[std::string(volume)] = std::string(id.as_string());
    }
  };
  collect("volumes");
  collect("orphaned_volumes");
  boost::json::object state, current, gone;
  for (const auto& [volume, id] : volumes) current[volume] = id;
  for (const auto& [volume, id] : orphaned) {
    gone[volume] = id;
    plan.orphaned_volumes.push_back("volume " + volume + " (database " + id +
                                    ", no longer in this build) keeps its data; bin/remove-orphans deletes it");
  }
  state["volumes"] = std::move(current);
  state["orphaned_volumes"] = std::move(gone);
  plan.files.push_back({"state/deploy.json", boost::json::serialize(state) + "\n"});

  std::string script = "#!/bin/sh\n" + header(g.input.app_name) +
                       "# Deletes the volumes of databases that earlier builds had and this one does not, WITH\n"
                       "# THEIR DATA (their containers go with `docker-compose up --remove-orphans`). The\n"
                       "# compose project: $COMPOSE_PROJECT_NAME, else this directory's name. Safe to re-run.\n"
                       "here=$(cd \"$(dirname \"$0\")/..\" && pwd) || exit 1\n"
                       "project=${COMPOSE_PROJECT_NAME:-$(basename \"$here\" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')}\n";
  if (orphaned.empty()) script += "echo \"no orphaned volumes\"\n";
  for (const auto& [volume, id] : orphaned) {
    script += "echo \"removing volume ${project}_" + volume + " (database " + replace_all(id, "\"", "") + ")\"\n";
    script += "docker volume rm \"${project}_" + volume + "\" >/dev/null 2>&1 || echo \"  (not there)\"\n";
  }
  plan.files.push_back({"bin/remove-orphans", script, true});
}

}  // namespace snap::deploy_plan
