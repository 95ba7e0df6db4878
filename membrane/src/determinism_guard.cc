// The determinism guard: extern "C" definitions of the C library's nondeterministic
// functions, which the program's own definitions make win over libc's (the executable
// comes first in symbol lookup, and libstdc++'s calls go through its PLT to us). Each
// forwards to the next definition, found once with dlsym(RTLD_NEXT): libc's, or a
// sanitizer's interceptor in front of it.
//
// Rules inside an interposer, which may run before main, inside the loader, inside malloc's
// own initialisation or from noexcept code: never throw, never allocate on the path that
// notes a violation, never call a watched function through the PLT (that would recurse),
// and while resolving the real function fall back to a raw syscall rather than recurse.
// Fortified headers turn open() into an inline wrapper, which this file must define instead.
#undef _FORTIFY_SOURCE
#include "snap/determinism_guard.h"

#include <cxxabi.h>
#include <dirent.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <spawn.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <map>
#include <memory>

extern char** environ;

namespace snap {

namespace detail {
constinit thread_local int t_allowed = 0;
}  // namespace detail

// Reaches DeterminismGuard's private state for the interposers and the reporting code.
struct GuardAccess {
  static DeterminismGuard* outer(const DeterminismGuard& g) { return g.outer_; }
  static bool armed(const DeterminismGuard& g) { return g.armed_; }
  static void note(DeterminismGuard& g, const DeterminismGuard::Record& r) {
    if (g.count_++ == 0) g.first_ = r;
  }
  static const DeterminismGuard::Record& first(const DeterminismGuard& g) { return g.first_; }
  static std::size_t count(const DeterminismGuard& g) { return g.count_; }
};

namespace {

// What each watched function is, and what to call instead. Indexed by Fn.
enum Fn : int {
  kTime, kGettimeofday, kClockWall, kClockOther, kGetrandom, kGetentropy, kArc4random, kArc4randomBuf,
  kArc4randomUniform, kRand, kRandom, kRandR, kGetenv, kSecureGetenv, kOpen, kOpen64, kOpenat, kOpenat64,
  kFopen, kFopen64, kOpendir, kOpenDirectory, kOpen64Directory, kOpenatDirectory, kOpenat64Directory,
  kRandomDevice, kFnCount
};

struct Watched {
  const char* name;
  const char* suggestion;
};

constexpr Watched kWatched[kFnCount] = {
    {"time", "m.wall_now()"},
    {"gettimeofday", "m.wall_now()"},
    {"clock_gettime", "m.wall_now()"},
    {"clock_gettime", "m.steady_now()"},
    {"getrandom", "m.random_bytes(size)"},
    {"getentropy", "m.random_bytes(size)"},
    {"arc4random", "m.random_int(min, max)"},
    {"arc4random_buf", "m.random_bytes(size)"},
    {"arc4random_uniform", "m.random_int(0, n - 1)"},
    {"rand", "m.random_int(min, max)"},
    {"random", "m.random_int(min, max)"},
    {"rand_r", "m.random_int(min, max)"},
    {"getenv", "m.env(name)"},
    {"secure_getenv", "m.env(name)"},
    {"open", "m.read_file(path) or m.file_exists(path)"},
    {"open64", "m.read_file(path) or m.file_exists(path)"},
    {"openat", "m.read_file(path) or m.file_exists(path)"},
    {"openat64", "m.read_file(path) or m.file_exists(path)"},
    {"fopen", "m.read_file(path) or m.file_exists(path)"},
    {"fopen64", "m.read_file(path) or m.file_exists(path)"},
    {"opendir", "m.list_directory(path)"},
    // open(O_DIRECTORY) is how std::filesystem::directory_iterator starts a listing.
    {"open", "m.list_directory(path)"},
    {"open64", "m.list_directory(path)"},
    {"openat", "m.list_directory(path)"},
    {"openat64", "m.list_directory(path)"},
    {"std::random_device", "m.random_int(min, max) or m.random_bytes(size)"},
};

// Everything the guard knows about one thread. Constant-initialised and trivially
// destructible, so reaching it is a plain thread-local load, with no init wrapper, even
// before main and during thread exit.
struct ThreadState {
  DeterminismGuard* innermost = nullptr;  // null: this thread is not watched (the fast path)
  bool busy = false;                      // inside the guard's own noting or reporting
};
constinit thread_local ThreadState t_state;

bool watching() {
  const ThreadState& s = t_state;
  if (s.innermost == nullptr) [[likely]] return false;
  return detail::t_allowed == 0 && !s.busy && GuardAccess::armed(*s.innermost);
}

// Records the call in every armed guard of this thread. `caller` is the interposer's
// return address: the backtrace starts there, whatever frames the capture itself adds
// (a sanitizer intercepts backtrace(), for one).
[[gnu::noinline, gnu::cold]] void note(Fn fn, void* caller) {
  ThreadState& s = t_state;
  s.busy = true;
  void* frames[DeterminismGuard::kMaxFrames + 4];
  const int n = ::backtrace(frames, static_cast<int>(std::size(frames)));
  int first = 0;
  while (first < n && frames[first] != caller) ++first;
  if (first == n) first = std::min(n, 2);  // not found: skip this function and the interposer
  DeterminismGuard::Record r;
  r.function = fn;
  for (int i = first; i < n && r.frames < DeterminismGuard::kMaxFrames; ++i) r.stack[r.frames++] = frames[i];
  for (DeterminismGuard* g = s.innermost; g != nullptr; g = GuardAccess::outer(*g)) {
    if (GuardAccess::armed(*g)) GuardAccess::note(*g, r);
  }
  s.busy = false;
}

// ---- the real functions ----

// Set while this thread is inside dlsym: a watched call from there (an allocator's
// initialisation reading getenv, say) must not resolve again; it takes the fallback.
constinit thread_local bool t_resolving = false;

[[gnu::noinline, gnu::cold]] void* resolve(std::atomic<void*>& slot, const char* name) {
  if (t_resolving) return nullptr;
  t_resolving = true;
  void* p = ::dlsym(RTLD_NEXT, name);
  t_resolving = false;
  if (p != nullptr) slot.store(p, std::memory_order_release);
  return p;
}

// The slow paths (resolving, noting) are out of line and cold, so that an unwatched call
// is a thread-local load, a load of the cached pointer and a tail jump to the real function.
template <typename F>
F real(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_acquire);
  if (p == nullptr) [[unlikely]] p = resolve(slot, name);
  return reinterpret_cast<F>(p);
}

#define SNAP_REAL(type, name)                   \
  static std::atomic<void*> slot_##name{nullptr}; \
  auto* real_##name = snap::real<type>(slot_##name, #name)

// getenv without libc: what the fallback uses before the real one is known.
char* scan_environ(const char* name) {
  if (environ == nullptr) return nullptr;
  const std::size_t len = std::strlen(name);
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
  }
  return nullptr;
}

bool takes_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

int open_fallback(int dirfd, const char* path, int flags, mode_t mode) {
  return static_cast<int>(::syscall(SYS_openat, dirfd, path, flags, mode));
}

}  // namespace
}  // namespace snap

// ---- the interposers ----
// Signatures and exception specifications match glibc's declarations exactly.

// A macro, not a function: __builtin_return_address(0) must be the interposer's own.
#define SNAP_WATCH(fn) \
  if (snap::watching()) [[unlikely]] snap::note(fn, __builtin_return_address(0))

extern "C" {

// Referenced by the link option membrane/CMakeLists.txt adds (-u), so that this object is
// linked into every program that links snap, whether or not it names the guard.
void snap_determinism_guard_interposers() {}

time_t time(time_t* out) noexcept {
  SNAP_WATCH(snap::kTime);
  SNAP_REAL(time_t (*)(time_t*), time);
  if (real_time == nullptr) return static_cast<time_t>(::syscall(SYS_time, out));
  return real_time(out);
}

int gettimeofday(struct timeval* tv, void* tz) noexcept {
  SNAP_WATCH(snap::kGettimeofday);
  SNAP_REAL(int (*)(struct timeval*, void*), gettimeofday);
  if (real_gettimeofday == nullptr) return static_cast<int>(::syscall(SYS_gettimeofday, tv, tz));
  return real_gettimeofday(tv, tz);
}

int clock_gettime(clockid_t clock, struct timespec* ts) noexcept {
  if (snap::watching()) [[unlikely]] {
    const bool wall = clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
    snap::note(wall ? snap::kClockWall : snap::kClockOther, __builtin_return_address(0));
  }
  SNAP_REAL(int (*)(clockid_t, struct timespec*), clock_gettime);
  if (real_clock_gettime == nullptr) return static_cast<int>(::syscall(SYS_clock_gettime, clock, ts));
  return real_clock_gettime(clock, ts);
}

ssize_t getrandom(void* buffer, size_t length, unsigned int flags) {
  SNAP_WATCH(snap::kGetrandom);
  SNAP_REAL(ssize_t (*)(void*, size_t, unsigned int), getrandom);
  if (real_getrandom == nullptr) return ::syscall(SYS_getrandom, buffer, length, flags);
  return real_getrandom(buffer, length, flags);
}

int getentropy(void* buffer, size_t length) {
  SNAP_WATCH(snap::kGetentropy);
  SNAP_REAL(int (*)(void*, size_t), getentropy);
  if (real_getentropy == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real_getentropy(buffer, length);
}

__uint32_t arc4random() noexcept {
  SNAP_WATCH(snap::kArc4random);
  SNAP_REAL(__uint32_t (*)(), arc4random);
  if (real_arc4random == nullptr) {
    __uint32_t v = 0;
    (void)::syscall(SYS_getrandom, &v, sizeof v, 0);
    return v;
  }
  return real_arc4random();
}

void arc4random_buf(void* buffer, size_t size) noexcept {
  SNAP_WATCH(snap::kArc4randomBuf);
  SNAP_REAL(void (*)(void*, size_t), arc4random_buf);
  if (real_arc4random_buf == nullptr) {
    (void)::syscall(SYS_getrandom, buffer, size, 0);
    return;
  }
  real_arc4random_buf(buffer, size);
}

__uint32_t arc4random_uniform(__uint32_t upper_bound) noexcept {
  SNAP_WATCH(snap::kArc4randomUniform);
  SNAP_REAL(__uint32_t (*)(__uint32_t), arc4random_uniform);
  if (real_arc4random_uniform == nullptr) return 0;
  return real_arc4random_uniform(upper_bound);
}

int rand() noexcept {
  SNAP_WATCH(snap::kRand);
  SNAP_REAL(int (*)(), rand);
  if (real_rand == nullptr) return 0;
  return real_rand();
}

long int random() noexcept {
  SNAP_WATCH(snap::kRandom);
  SNAP_REAL(long int (*)(), random);
  if (real_random == nullptr) return 0;
  return real_random();
}

int rand_r(unsigned int* seed) noexcept {
  SNAP_WATCH(snap::kRandR);
  SNAP_REAL(int (*)(unsigned int*), rand_r);
  if (real_rand_r == nullptr) return 0;
  return real_rand_r(seed);
}

char* getenv(const char* name) noexcept {
  SNAP_WATCH(snap::kGetenv);
  SNAP_REAL(char* (*)(const char*), getenv);
  if (real_getenv == nullptr) return snap::scan_environ(name);
  return real_getenv(name);
}

char* secure_getenv(const char* name) noexcept {
  SNAP_WATCH(snap::kSecureGetenv);
  SNAP_REAL(char* (*)(const char*), secure_getenv);
  if (real_secure_getenv == nullptr) return ::getauxval(AT_SECURE) != 0 ? nullptr : snap::scan_environ(name);
  return real_secure_getenv(name);
}

#define SNAP_OPEN_MODE(flags)        \
  mode_t mode = 0;                   \
  if (snap::takes_mode(flags)) {     \
    std::va_list ap;                 \
    va_start(ap, flags);             \
    mode = va_arg(ap, mode_t);       \
    va_end(ap);                      \
  }

int open(const char* path, int flags, ...) {
  SNAP_OPEN_MODE(flags);
  SNAP_WATCH((flags & O_DIRECTORY) != 0 ? snap::kOpenDirectory : snap::kOpen);
  SNAP_REAL(int (*)(const char*, int, ...), open);
  if (real_open == nullptr) return snap::open_fallback(AT_FDCWD, path, flags, mode);
  return real_open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  SNAP_OPEN_MODE(flags);
  SNAP_WATCH((flags & O_DIRECTORY) != 0 ? snap::kOpen64Directory : snap::kOpen64);
  SNAP_REAL(int (*)(const char*, int, ...), open64);
  if (real_open64 == nullptr) return snap::open_fallback(AT_FDCWD, path, flags, mode);
  return real_open64(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  SNAP_OPEN_MODE(flags);
  SNAP_WATCH((flags & O_DIRECTORY) != 0 ? snap::kOpenatDirectory : snap::kOpenat);
  SNAP_REAL(int (*)(int, const char*, int, ...), openat);
  if (real_openat == nullptr) return snap::open_fallback(dirfd, path, flags, mode);
  return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  SNAP_OPEN_MODE(flags);
  SNAP_WATCH((flags & O_DIRECTORY) != 0 ? snap::kOpenat64Directory : snap::kOpenat64);
  SNAP_REAL(int (*)(int, const char*, int, ...), openat64);
  if (real_openat64 == nullptr) return snap::open_fallback(dirfd, path, flags, mode);
  return real_openat64(dirfd, path, flags, mode);
}

FILE* fopen(const char* path, const char* modes) {
  SNAP_WATCH(snap::kFopen);
  SNAP_REAL(FILE* (*)(const char*, const char*), fopen);
  if (real_fopen == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  return real_fopen(path, modes);
}

FILE* fopen64(const char* path, const char* modes) {
  SNAP_WATCH(snap::kFopen64);
  SNAP_REAL(FILE* (*)(const char*, const char*), fopen64);
  if (real_fopen64 == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  return real_fopen64(path, modes);
}

DIR* opendir(const char* path) {
  SNAP_WATCH(snap::kOpendir);
  SNAP_REAL(DIR* (*)(const char*), opendir);
  if (real_opendir == nullptr) {
    errno = ENOSYS;
    return nullptr;
  }
  return real_opendir(path);
}

// std::random_device::_M_getval(), which the inline operator() calls: its default source
// on x86 is the rdrand instruction, which no C function would show.
unsigned int _ZNSt13random_device9_M_getvalEv(void* self) {
  SNAP_WATCH(snap::kRandomDevice);
  SNAP_REAL(unsigned int (*)(void*), _ZNSt13random_device9_M_getvalEv);
  if (real__ZNSt13random_device9_M_getvalEv == nullptr) {
    unsigned int v = 0;
    (void)::syscall(SYS_getrandom, &v, sizeof v, 0);
    return v;
  }
  return real__ZNSt13random_device9_M_getvalEv(self);
}

}  // extern "C"

// ---- the guard and its reports ----

namespace snap {
namespace {

// An AllowNondeterminism the guard's own reporting runs inside (spawning addr2line opens
// files), without needing a reason string.
struct Quiet {
  Quiet() { ++detail::t_allowed; }
  ~Quiet() { --detail::t_allowed; }
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;
};

// The C and C++ runtimes (and the sanitizers' interceptors) are never the call site: the
// frame that called into them is.
bool is_runtime_object(std::string_view path) {
  const auto slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (std::string_view prefix : {"libc.so", "libstdc++.so", "libgcc_s.so", "libm.so", "libasan.so", "libubsan.so",
                                  "libtsan.so", "liblsan.so", "libpthread.so", "ld-linux"}) {
    if (base.starts_with(prefix)) return true;
  }
  return false;
}

std::string hex(std::uintptr_t v) {
  char buf[2 + 2 * sizeof v + 1];
  std::snprintf(buf, sizeof buf, "0x%zx", static_cast<std::size_t>(v));
  return buf;
}

std::string demangle(const char* symbol) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(symbol, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(symbol);
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// Source code of the C++ standard library, inlined into the caller's object: like the
// runtime libraries, never the call site.
bool is_library_source(std::string_view place) {
  return place.starts_with("/usr/include/") || place.find("/include/c++/") != std::string_view::npos ||
         place.starts_with("/usr/lib/gcc/");
}

// One line of a report: a function, and where it is when that is known.
struct Frame {
  std::string object;    // the executable or shared object holding the code
  std::string function;  // demangled, or object+offset
  std::string place;     // "file:line", or empty
  std::string text() const { return place.empty() ? function : function + " at " + place; }
};

// Runs `addr2line -a -f -C -i -e object offsets...`: for each offset, the chain of
// functions inlined there, innermost first, each with its file:line. Empty if addr2line
// cannot run or says something unexpected; the caller then keeps what dladdr knew.
std::vector<std::vector<Frame>> addr2line(const std::string& object, const std::vector<std::uintptr_t>& offsets) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {"addr2line", "-a", "-f", "-C", "-i", "-e", object};
  for (auto a : offsets) args.push_back(hex(a));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "addr2line", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  if (rc == 0) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
  }
  ::close(out[0]);
  if (rc != 0) return {};
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};

  // "0x<offset>" opens each address's group; then (function, file:line) pairs.
  std::vector<std::vector<Frame>> groups;
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  for (std::size_t i = 0; i < lines.size();) {
    if (!lines[i].starts_with("0x")) return {};
    groups.emplace_back();
    for (++i; i < lines.size() && !lines[i].starts_with("0x"); i += 2) {
      if (i + 1 >= lines.size()) return {};
      std::string function = lines[i];
      if (function.ends_with(" (inlined by)")) function.resize(function.size() - 13);
      const std::string& place = lines[i + 1];
      groups.back().push_back(Frame{object, function == "??" ? std::string() : function,
                                    place.starts_with("??") ? std::string() : place});
    }
  }
  if (groups.size() != offsets.size()) return {};
  return groups;
}

// The captured frames, innermost first, with inlined functions as frames of their own.
std::vector<Frame> symbolise(const DeterminismGuard::Record& r) {
  // Per captured frame: what dladdr says, then what addr2line adds.
  std::vector<std::vector<Frame>> frames(r.frames);
  std::vector<std::uintptr_t> offset(r.frames);
  const std::string exe = self_exe();
  std::map<std::string, std::vector<std::size_t>> by_object;
  for (std::size_t i = 0; i < r.frames; ++i) {
    // A return address points after the call; one byte back is inside the call instruction.
    const auto pc = reinterpret_cast<std::uintptr_t>(r.stack[i]) - 1;
    Dl_info info{};
    link_map* map = nullptr;
    Frame f;
    if (::dladdr1(reinterpret_cast<void*>(pc), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
        map == nullptr) {
      f.function = hex(pc);
      frames[i].push_back(f);
      continue;
    }
    f.object = (map->l_name == nullptr || map->l_name[0] == '\0') ? exe : std::string(map->l_name);
    offset[i] = pc - map->l_addr;
    f.function = info.dli_sname != nullptr ? demangle(info.dli_sname) : f.object + "+" + hex(offset[i]);
    frames[i].push_back(f);
    // The runtime libraries' exported names are enough, and sparing addr2line their
    // (often separate) debug information keeps a report quick.
    if (!f.object.empty() && !is_runtime_object(f.object)) by_object[f.object].push_back(i);
  }
  for (const auto& [object, indices] : by_object) {
    std::vector<std::uintptr_t> offsets;
    for (auto i : indices) offsets.push_back(offset[i]);
    auto groups = addr2line(object, offsets);
    if (groups.empty()) continue;
    for (std::size_t k = 0; k < indices.size(); ++k) {
      auto& chain = groups[k];
      if (chain.empty()) continue;
      // addr2line may lack a name where dladdr has one (no debug information).
      for (auto& f : chain) {
        if (f.function.empty()) f.function = frames[indices[k]].front().function;
      }
      frames[indices[k]] = std::move(chain);
    }
  }
  std::vector<Frame> flat;
  for (auto& chain : frames) {
    for (auto& f : chain) flat.push_back(std::move(f));
  }
  return flat;
}

}  // namespace

NondeterminismError::NondeterminismError(std::string function, std::string call_site, std::string suggestion,
                                         std::vector<std::string> backtrace, std::size_t count)
    : Error(ErrorCode::kUnimplemented, "membrane.nondeterminism", [&] {
        std::string m = "nondeterministic call during startup: " + function + "\n";
        m += "  called from " + call_site + "\n";
        m += "  use " + suggestion + " instead: the membrane records it at build and replays it in every container\n";
        m += "  or, if the value can never reach startup state: snap::AllowNondeterminism allow(\"why\");\n";
        if (count > 1) m += "  (" + std::to_string(count - 1) + " more such calls followed; fix this one first)\n";
        m += "  backtrace:\n";
        for (std::size_t i = 0; i < backtrace.size(); ++i) {
          m += "    #" + std::to_string(i) + " " + backtrace[i] + "\n";
        }
        return m;
      }()),
      function_(std::move(function)),
      call_site_(std::move(call_site)),
      suggestion_(std::move(suggestion)),
      backtrace_(std::move(backtrace)),
      count_(count) {}

DeterminismGuard::DeterminismGuard() : outer_(t_state.innermost) {
  // backtrace() loads the unwinder on its first call (dlopen, malloc); do that here, not
  // inside an interposer reached from the middle of some library call.
  {
    Quiet quiet;
    void* frame = nullptr;
    (void)::backtrace(&frame, 1);
  }
  t_state.innermost = this;
}

DeterminismGuard::~DeterminismGuard() {
  ThreadState& s = t_state;
  if (s.innermost == this) {
    s.innermost = outer_;
    return;
  }
  // Not innermost (a scope rule broken): unlink anyway, so no dangling guard is watched.
  for (DeterminismGuard* g = s.innermost; g != nullptr; g = g->outer_) {
    if (g->outer_ == this) {
      g->outer_ = outer_;
      return;
    }
  }
}

void DeterminismGuard::check() const {
  if (count_ == 0) return;
  Quiet quiet;
  const auto frames = symbolise(first_);
  std::vector<std::string> backtrace;
  std::string call_site;
  for (const Frame& f : frames) {
    backtrace.push_back(f.text());
    if (call_site.empty() && !is_runtime_object(f.object) && !is_library_source(f.place)) call_site = f.text();
  }
  if (call_site.empty()) call_site = "an unknown place (no frame outside the C and C++ runtime libraries)";
  const Watched& w = kWatched[first_.function];
  throw NondeterminismError(w.name, std::move(call_site), w.suggestion, std::move(backtrace), count_);
}

void AllowNondeterminism::throw_no_reason() {
  throw std::invalid_argument("AllowNondeterminism: say why the call is allowed");
}

}  // namespace snap
