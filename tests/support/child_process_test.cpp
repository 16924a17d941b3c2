// The shared child process of the tests and the bench, on /bin/sh.
#include "process/child_process.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "process/ports.h"

namespace tickcast::support {
namespace {

using namespace std::chrono_literals;

ChildOptions shell(std::string script) { return {.argv = {"sh", "-c", std::move(script)}}; }

TEST(ChildProcess, LogsStdoutAndStderrAndReportsTheExitStatus) {
  ChildProcess child(shell("echo out; echo err >&2; exit 3"));
  const auto status = child.wait(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3);
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.output(), "out\nerr\n");
  EXPECT_EQ(child.output(4), "...err\n") << "the tail, marked";
  EXPECT_EQ(child.terminate(), status) << "once reaped, terminate returns its status";
}

TEST(ChildProcess, WaitsForOutputAndTerminatesWithSigterm) {
  ChildProcess child(shell("echo ready; exec sleep 60"));
  ASSERT_TRUE(child.wait_for_output("ready", 10s)) << child.output();
  EXPECT_TRUE(child.running());
  const auto status = child.terminate(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGTERM);
}

TEST(ChildProcess, SigkillsWhatIgnoresSigterm) {
  ChildProcess child(shell("trap '' TERM; echo ready; while :; do sleep 1; done"));
  ASSERT_TRUE(child.wait_for_output("ready", 10s));
  EXPECT_FALSE(child.terminate(200ms).has_value()) << "it did not exit in time";
  EXPECT_FALSE(child.running());
  EXPECT_TRUE(WIFSIGNALED(*child.exit_status()) && WTERMSIG(*child.exit_status()) == SIGKILL);
}

// The bench's --pin: a child runs on the CPUs it is given (set between fork and exec).
TEST(ChildProcess, RunsOnTheCpusItIsGiven) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  }
  ASSERT_GE(last, 0);
  ChildOptions options = shell("grep Cpus_allowed_list /proc/self/status");
  options.cpus = {last};
  ChildProcess child(options);
  ASSERT_TRUE(child.wait(10s).has_value());
  EXPECT_EQ(child.output(), "Cpus_allowed_list:\t" + std::to_string(last) + "\n");
}

TEST(ChildProcess, ACpuItMayNotUseIsAnError) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if (CPU_ISSET(CPU_SETSIZE - 1, &allowed)) GTEST_SKIP() << "every CPU is allowed here";
  ChildOptions options = shell("exit 0");
  options.cpus = {CPU_SETSIZE - 1};
  EXPECT_THROW(ChildProcess child(options), std::runtime_error);
}

TEST(ChildProcess, WaitForOutputGivesUpWhenTheChildExits) {
  ChildProcess child(shell("echo something else"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(child.wait_for_output("never", 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(ChildProcess, PipeGivesLinesThenTheRest) {
  ChildProcess child({.argv = {"sh", "-c", "echo one; echo two; printf three"},
                      .output = ChildOptions::Output::pipe});
  EXPECT_EQ(child.read_line(10s), "one");
  EXPECT_EQ(child.read_all(10s), "two\nthree");
  EXPECT_EQ(child.read_line(1s), std::nullopt) << "EOF";
  EXPECT_EQ(child.output(), "one\ntwo\nthree") << "output is everything it printed";
}

TEST(ChildProcess, EnvironmentIsTheParentsWithTheExtras) {
  ::setenv("TICKCAST_CHILD_TEST_KEPT", "kept", 1);
  ::setenv("TICKCAST_CHILD_TEST_SET", "old", 1);
  ChildProcess child(
      {.argv = {"sh", "-c", "echo $TICKCAST_CHILD_TEST_KEPT $TICKCAST_CHILD_TEST_SET"},
       .env = {"TICKCAST_CHILD_TEST_SET=new"},
       .output = ChildOptions::Output::pipe});
  EXPECT_EQ(child.read_line(10s), "kept new");
}

TEST(ChildProcess, AKeptLogIsAppendedTo) {
  const std::string path = ::testing::TempDir() + "tickcast-child-test.log";
  std::ofstream(path) << "before\n";
  {
    ChildProcess child({.argv = {"sh", "-c", "echo after"}, .log_path = path});
    ASSERT_TRUE(child.wait(10s).has_value());
    EXPECT_EQ(child.output(), "before\nafter\n");
  }
  std::ifstream kept(path);
  EXPECT_TRUE(kept.good()) << "a given log outlives the process";
  std::remove(path.c_str());
}

TEST(ChildProcess, AProgramThatCannotRunThrowsAndLeavesNoLog) {
  const std::string program = "tickcast-no-such-program-" + std::to_string(::getpid());
  EXPECT_THROW(ChildProcess({.argv = {"/nonexistent/" + program}}), std::runtime_error);
  EXPECT_THROW(ChildProcess({.argv = {program}}), std::runtime_error);
  for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
    EXPECT_EQ(entry.path().filename().string().find(program), std::string::npos) << entry.path();
  }
}

TEST(ChildProcess, DestructorStopsTheChild) {
  pid_t pid = 0;
  {
    ChildProcess child(shell("exec sleep 60"));
    pid = child.pid();
  }
  EXPECT_NE(::kill(pid, 0), 0) << "stopped and reaped: no such process";
}

TEST(Ports, AFreePortAcceptsNothingYet) {
  const int port = free_port();
  EXPECT_GT(port, 0);
  EXPECT_FALSE(port_accepts(port));
}

}  // namespace
}  // namespace tickcast::support
