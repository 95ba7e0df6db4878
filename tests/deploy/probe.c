/* A tiny probe copied into test images (the app image has no shell and no tools):
 *   probe ls DIR                  the names in DIR, one a line ("missing" if there is none)
 *   probe connect HOST:PORT...    one line each, tried at once, in the order they answer:
 *                                 HOST:PORT open|refused|unreachable|unresolved|timeout
 *   probe resolve HOST            HOST's IPv4 addresses, one a line, each once (exit 1: unresolved)
 *   probe repeat SECONDS PROGRAM ARGS...
 *                                 runs PROGRAM again and again, one line a run:
 *                                 run=N start_ms=EPOCH_MS ms=DURATION exit=STATUS failures=F out=OUTPUT
 *                                 (OUTPUT: its stdout and stderr on one line); stops after SECONDS,
 *                                 or once a failed run has been followed by 3 that succeeded
 * Linked only against the C library, which every image under test carries. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* try_connect(const char* host, const char* port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) return "unresolved";
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const char* verdict = "unreachable";
  if (fd >= 0) {
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    if (rc == 0) {
      verdict = "open";
    } else if (errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      /* A bound for a dropped SYN, not a synchronisation delay. */
      if (poll(&p, 1, 3000) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        verdict = err == 0 ? "open" : err == ECONNREFUSED ? "refused" : "unreachable";
      } else {
        verdict = "timeout";
      }
    } else if (errno == ECONNREFUSED) {
      verdict = "refused";
    }
    close(fd);
  }
  freeaddrinfo(res);
  return verdict;
}

static long long now_ms(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One run of argv[0] with its stdout and stderr into `out` (flattened to one line, cut
 * at its size); returns its exit status (128 + signal when killed). */
static int run_once(char** argv, char* out, size_t size) {
  int fds[2];
  if (pipe(fds) != 0) return 127;
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t used = 0;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n && used + 1 < size; ++i) out[used++] = buf[i] == '\n' || buf[i] == '\r' ? ' ' : buf[i];
  }
  out[used] = '\0';
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int repeat(int seconds, char** argv) {
  const long long end = now_ms(CLOCK_MONOTONIC) + (long long)seconds * 1000;
  int failures = 0, successes_since_failure = 0;
  static char out[1024];
  for (int run = 1; now_ms(CLOCK_MONOTONIC) < end; ++run) {
    const long long start_ms = now_ms(CLOCK_REALTIME), started = now_ms(CLOCK_MONOTONIC);
    const int status = run_once(argv, out, sizeof out);
    if (status != 0) {
      ++failures;
      successes_since_failure = 0;
    } else if (failures > 0) {
      ++successes_since_failure;
    }
    printf("run=%d start_ms=%lld ms=%lld exit=%d failures=%d out=%s\n", run, start_ms,
           now_ms(CLOCK_MONOTONIC) - started, status, failures, out);
    fflush(stdout); /* read line by line while it runs */
    if (successes_since_failure >= 3) break;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "repeat") == 0) return repeat(atoi(argv[2]), argv + 3);
  if (argc >= 3 && strcmp(argv[1], "ls") == 0) {
    DIR* d = opendir(argv[2]);
    if (d == NULL) {
      puts("missing");
      return 0;
    }
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) puts(e->d_name);
    }
    closedir(d);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "connect") == 0) {
    /* All at once, a process each: a dropped SYN costs its 3 s bound once, not per target.
     * Each line is one write (shorter than PIPE_BUF), so lines do not interleave; their
     * order is the order the answers came in. */
    for (int i = 2; i < argc; ++i) {
      const char* colon = strrchr(argv[i], ':');
      if (colon == NULL || (size_t)(colon - argv[i]) >= 256) return 64;
    }
    fflush(stdout);
    for (int i = 2; i < argc; ++i) {
      pid_t pid = fork();
      if (pid < 0) return 1;
      if (pid > 0) continue;
      char host[256], line[512];
      const char* colon = strrchr(argv[i], ':');
      memcpy(host, argv[i], (size_t)(colon - argv[i]));
      host[colon - argv[i]] = '\0';
      int n = snprintf(line, sizeof line, "%s %s\n", argv[i], try_connect(host, colon + 1));
      if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
      _exit(write(1, line, (size_t)n) == n ? 0 : 1);
    }
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
  }
  if (argc == 3 && strcmp(argv[1], "resolve") == 0) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[2], NULL, &hints, &res) != 0) return 1;
    char seen[64][INET_ADDRSTRLEN];
    int n = 0;
    for (struct addrinfo* a = res; a != NULL && n < 64; a = a->ai_next) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &((struct sockaddr_in*)a->ai_addr)->sin_addr, text, sizeof text);
      int dup = 0;
      for (int i = 0; i < n; ++i) dup |= strcmp(seen[i], text) == 0;
      if (!dup) {
        strcpy(seen[n++], text);
        puts(text);
      }
    }
    freeaddrinfo(res);
    return 0;
  }
  fputs("usage: probe ls DIR | probe connect HOST:PORT... | probe resolve HOST | probe repeat SECONDS PROGRAM ARGS...\n",
        stderr);
  return 64;
}
