package e2etest

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/testlog"
)

// Options tune Start.
type Options struct {
	// Stdin is the process's standard input; nil: none. The caller keeps
	// the other end of a pipe and closes this end after Start.
	Stdin *os.File
	// KillAfter is how long the end-of-test cleanup waits after SIGTERM
	// before it sends SIGKILL. Zero: SIGKILL at once. `veil serve` with
	// its managed PostgreSQL needs SIGTERM, or the server outlives it.
	KillAfter time.Duration
	// LogTail limits the output logged when the test failed to its last
	// LogTail bytes; zero: all of it.
	LogTail int
}

// Process is a running veil subcommand. Its output, across restarts, is
// kept in Out.
type Process struct {
	Name string
	Out  *testlog.Buffer

	args []string
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the veil binary with args (its first the subcommand) and
// the test's environment. The process is stopped when the test ends, and
// its output logged if the test failed. name labels it in messages.
func Start(t testing.TB, name string, o Options, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Out: &testlog.Buffer{}, args: args, opts: o}
	p.Restart(t)
	t.Cleanup(func() {
		p.terminate()
		if t.Failed() {
			out := p.Out.String()
			if n := p.opts.LogTail; n > 0 && len(out) > n {
				out = "…" + out[len(out)-n:]
			}
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return p
}

// Restart starts the process again with the same arguments, once it has
// exited. (Start uses it for the first start.)
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	cmd := exec.Command(Binary(t), p.args...)
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if p.opts.Stdin != nil {
		cmd.Stdin = p.opts.Stdin
	}
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Cmd is the current run's command; its ProcessState is set once Done is
// closed.
func (p *Process) Cmd() *exec.Cmd {
	cmd, _ := p.current()
	return cmd
}

// Done is closed when the current run has exited.
func (p *Process) Done() <-chan struct{} {
	_, done := p.current()
	return done
}

// Pid is the current run's process id.
func (p *Process) Pid() int { return p.Cmd().Process.Pid }

// Exited reports whether the current run has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.Out.String() }

// Kill sends SIGKILL to the current run (by its pid) and waits for it.
func (p *Process) Kill() {
	cmd, done := p.current()
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Stop sends SIGTERM and waits for a clean exit: it fails the test if the
// process is still running after timeout (and kills it), or exits non-zero.
func (p *Process) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	cmd, done := p.current()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("%s: no exit %v after SIGTERM", p.Name, timeout)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s: exit code %d after SIGTERM", p.Name, code)
	}
}

// terminate ends a run still going at the end of the test: SIGTERM, then
// SIGKILL after Options.KillAfter.
func (p *Process) terminate() {
	cmd, done := p.current()
	select {
	case <-done:
		return
	default:
	}
	if p.opts.KillAfter <= 0 {
		p.Kill()
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(p.opts.KillAfter):
		p.Kill()
	}
}
