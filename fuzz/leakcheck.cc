// C++-level leak check of the addon's native core under AddressSanitizer + LeakSanitizer:
// 10k lock grab/release cycles (flock file and abstract socket, with busy attempts) and 1k
// scanner runs over every seed, chunked. Exits non-zero if the open-fd count changed; LSan
// fails the process at exit if any heap block leaked. Built and run by fuzz/run.sh.
//   leakcheck <lockfile-dir> <seed files...>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../native/locks.h"
#include "../native/save_scanner.h"

namespace {

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

[[noreturn]] void Fail(const std::string& what) {
  fprintf(stderr, "leakcheck: %s\n", what.c_str());
  exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) Fail("usage: leakcheck <dir> <seed>...");
  const std::string lock = std::string(argv[1]) + "/leakcheck.lock";
  const std::string socket = "ipts-leakcheck-" + std::to_string(getpid());
  std::vector<std::string> seeds;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    seeds.push_back(s.size() >= 4 ? s.substr(4) : s);
  }

  const int before = OpenFds();
  for (int i = 0; i < 10000; ++i) {
    ipts::LockAttempt f = ipts::TryFlock(lock);
    ipts::LockAttempt s = ipts::TryBindAbstract(socket);
    if (f.error != 0 || s.error != 0) Fail("lock unexpectedly busy or failing");
    if (i % 10 == 0) {
      if (ipts::TryFlock(lock).error == 0) Fail("flock not exclusive");
      if (ipts::TryBindAbstract(socket).error == 0) Fail("socket not exclusive");
      if (ipts::TryFlock(std::string(argv[1]) + "/missing/x.lock").error == 0) Fail("open of a missing dir succeeded");
    }
  }
  size_t rules = 0;
  for (int run = 0; run < 1000; ++run) {
    for (const std::string& dump : seeds) {
      ipts::ScannerConfig config;
      config.hash_prefix = "cali:";
      config.historic_prefixes = {"cali-"};
      config.report_unmatched = (run & 1) != 0;
      ipts::SaveScanner scanner(config);
      for (size_t at = 0; at < dump.size(); at += 61) scanner.Feed(dump.data() + at, std::min<size_t>(61, dump.size() - at));
      scanner.Finish();
      for (const auto& c : scanner.chains()) rules += c.codes.size();
    }
  }
  const int after = OpenFds();
  printf("leakcheck: 10000 lock cycles + 1000 x %zu seed scans (%zu rules): fds %d -> %d\n", seeds.size(), rules, before, after);
  if (before != after) Fail("fd count changed");
  return 0;
}
