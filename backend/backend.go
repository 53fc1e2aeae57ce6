// Package backend chooses the GoMLX backend for every ddpm program, test and
// notebook, in one place:
//
//  1. GOMLX_BACKEND, when set, wins (GoMLX's own syntax: "xla:cpu",
//     "xla:/abs/path/plugin.so", "go", ...).
//  2. Otherwise XLA on CPU, when a PJRT CPU plugin is found: in the folders of
//     PJRT_PLUGIN_LIBRARY_PATH, in the project's .pjrt folder (searched
//     upwards from the working directory and from the executable), or in
//     go-xla's install folders (~/.local/lib/go-xla, /usr/local/lib/go-xla).
//     A CUDA plugin found the same way is preferred over the CPU one.
//  3. Otherwise GoMLX's auto-install is tried once, with a time limit, for
//     users who are online (it fetches the plugin from code hosting);
//     GOMLX_NO_AUTO_INSTALL turns it off.
//  4. Otherwise the pure-Go backend, with one line on stderr saying why.
//
// The project's scripts/install-pjrt.sh installs the CPU plugin into .pjrt.
package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/default" // Registers the XLA and pure-Go backends.
	"github.com/gomlx/gomlx/backends/xla"
)

// PureGoConfig is the pure-Go backend's configuration used by the fallback.
// Sequential op execution avoids a worker-pool deadlock seen in GoMLX v0.26.0
// matrix multiplies on 2 cores.
const PureGoConfig = "go:ops_sequential"

// PluginDirName is the project-local folder that holds PJRT plugins.
const PluginDirName = ".pjrt"

// AutoInstallTimeout bounds GoMLX's plugin auto-install, so that a closed
// network never hangs a program.
const AutoInstallTimeout = 45 * time.Second

// Choice records how the backend was chosen.
type Choice struct {
	Config string // The configuration given to GoMLX, e.g. "xla:/path/pjrt_c_api_cpu_plugin.so,shared_buffers".
	Reason string // Why, in one sentence.
	Plugin string // The PJRT plugin file, empty for the pure-Go backend.
	// XLAFlags is what New added to XLA_FLAGS (see CPUSettings), or "".
	XLAFlags string
	// Missing names the PJRT plugin that GOMLX_BACKEND asks for by name
	// ("cuda" in xla:cuda) when no such plugin is installed.
	Missing string
}

var (
	once     sync.Once
	shared   backends.Backend
	sharedCh Choice
	errNew   error
)

// New returns the process-wide backend, created on first use (creating an
// XLA client is expensive and a process needs only one).
func New() (backends.Backend, error) {
	once.Do(func() {
		sharedCh = Choose()
		sharedCh.XLAFlags = tuneXLAFlags(sharedCh.Plugin)
		if sharedCh.Plugin == "" && os.Getenv(backends.ConfigEnvVar) == "" {
			fmt.Fprintf(os.Stderr, "ddpm: using the pure-Go backend (slow): %s\n", sharedCh.Reason)
		}
		if sharedCh.Missing != "" {
			install := "scripts/install-pjrt.sh"
			if sharedCh.Missing == "cuda" {
				install = "scripts/install-pjrt.sh cuda12 (or cuda13) on a machine with an NVIDIA GPU"
			}
			errNew = fmt.Errorf("GOMLX_BACKEND=%s asks for the PJRT %s plugin (pjrt_c_api_%s_plugin.so), which is not installed in any of %s: install it with %s, or unset GOMLX_BACKEND to use the CPU plugin",
				sharedCh.Config, sharedCh.Missing, sharedCh.Missing, strings.Join(SearchPath(), ", "), install)
			return
		}
		shared, errNew = backends.NewWithConfig(sharedCh.Config)
		if errNew != nil {
			errNew = fmt.Errorf("creating GoMLX backend %q (%s): %w", sharedCh.Config, sharedCh.Reason, errNew)
		} else if shared.Name() == "xla" {
			shared = &trimming{shared}
		}
	})
	return shared, errNew
}

// MustNew is New for mains, tests and notebooks: it panics on error.
func MustNew() backends.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

// Chosen returns how the backend returned by New was chosen (zero before New).
func Chosen() Choice { return sharedCh }

// Choose decides the backend configuration without creating it.
func Choose() Choice {
	if cfg, ok := os.LookupEnv(backends.ConfigEnvVar); ok && cfg != "" {
		c := Choice{Config: cfg, Reason: "GOMLX_BACKEND is set"}
		if name := pluginNameOf(cfg); name != "" && pluginPathOf(cfg) == "" {
			c.Missing = name
		}
		if path := pluginPathOf(cfg); path != "" {
			c.Plugin = path
			// "xla:cpu" with the plugin in .pjrt: name the file, so that GoMLX
			// neither misses it nor tries to download one.
			name, rest, _ := strings.Cut(cfg, ":")
			plugin, opts, _ := strings.Cut(rest, ",")
			if !filepath.IsAbs(plugin) {
				c.Config = name + ":" + path
				if opts != "" {
					c.Config += "," + opts
				} else if plugin == "" || plugin == "cpu" {
					c.Config += ",shared_buffers"
				}
			}
		}
		return c
	}
	for _, name := range []string{"cuda", "cpu"} {
		if path := FindPlugin(name); path != "" {
			cfg := "xla:" + path
			if name == "cpu" {
				cfg += ",shared_buffers" // CPU buffers are host memory: skip the copies.
			}
			return Choice{Config: cfg, Plugin: path, Reason: fmt.Sprintf("found PJRT %s plugin %s", name, path)}
		}
	}
	if _, off := os.LookupEnv(xla.NoAutoInstallEnv); off {
		return Choice{Config: PureGoConfig, Reason: "no PJRT plugin found and " + xla.NoAutoInstallEnv + " is set; " + installAdvice()}
	}
	if err := autoInstall(); err != nil {
		return Choice{Config: PureGoConfig, Reason: fmt.Sprintf("no PJRT plugin found and auto-install failed (%v); %s", err, installAdvice())}
	}
	if path := FindPlugin("cpu"); path != "" {
		return Choice{Config: "xla:" + path + ",shared_buffers", Plugin: path, Reason: "auto-installed PJRT cpu plugin " + path}
	}
	return Choice{Config: PureGoConfig, Reason: "no PJRT plugin found after auto-install; " + installAdvice()}
}

// installAdvice says where plugins were looked for and how to get one,
// from any folder.
func installAdvice() string {
	return "looked in " + strings.Join(SearchPath(), ", ") + "; to install the CPU plugin run scripts/install-pjrt.sh in a checkout of " +
		"github.com/diffusion-go/ddpm (it writes .pjrt/ there, found from any folder below it and by binaries built in it), " +
		"or put pjrt_c_api_cpu_plugin.so in ~/.local/lib/go-xla (where GoMLX's installer puts it), " +
		"or name the folder that holds it in PJRT_PLUGIN_LIBRARY_PATH"
}

// pluginNameOf returns the plugin name of an "xla:<name>" configuration
// ("cpu" for a bare "xla"), or "" for another backend or a plugin path.
func pluginNameOf(cfg string) string {
	name, rest, _ := strings.Cut(cfg, ":")
	if name != "xla" && name != "stablehlo" && name != "hlo" && name != "shlo" {
		return ""
	}
	plugin, _, _ := strings.Cut(rest, ",")
	if plugin == "" {
		return "cpu"
	}
	if strings.ContainsAny(plugin, "/.") {
		return ""
	}
	return plugin
}

// pluginPathOf returns the plugin file named by an "xla:..." configuration, if any.
func pluginPathOf(cfg string) string {
	name, rest, ok := strings.Cut(cfg, ":")
	if !ok || (name != "xla" && name != "stablehlo" && name != "hlo" && name != "shlo") {
		return ""
	}
	plugin, _, _ := strings.Cut(rest, ",")
	if filepath.IsAbs(plugin) {
		return plugin
	}
	if plugin == "" {
		plugin = "cpu"
	}
	return FindPlugin(plugin)
}

// autoInstall runs GoMLX's auto-install with a time limit.
func autoInstall() error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- xla.AutoInstall()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(AutoInstallTimeout):
		return errors.New("timed out after " + AutoInstallTimeout.String())
	}
}

// SearchPath returns the folders searched for PJRT plugins, in order.
func SearchPath() []string {
	var dirs []string
	if env := os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"); env != "" {
		dirs = append(dirs, filepath.SplitList(env)...)
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, upwards(wd, PluginDirName)...)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, upwards(filepath.Dir(exe), PluginDirName)...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "go-xla"))
	}
	return append(dirs, "/usr/local/lib/go-xla")
}

// upwards lists dir/name, parent/name, ... up to the root, where they exist.
func upwards(dir, name string) []string {
	var out []string
	for {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			out = append(out, p)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return out
		}
		dir = parent
	}
}

// FindPlugin returns the absolute path of pjrt_c_api_<name>_plugin.so in the
// search path, or "" when there is none.
func FindPlugin(name string) string {
	file := "pjrt_c_api_" + name + "_plugin.so"
	for _, dir := range SearchPath() {
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
			return p
		}
	}
	return ""
}

// Describe returns one line naming the backend, its plugin and device count.
func Describe(b backends.Backend) string {
	c := Chosen()
	return describe(b.Description(), b.NumDevices(), c.Plugin, c.Reason)
}

// describe is Describe's line, saying each thing once: GoMLX's description
// of an XLA backend already names the plugin (twice: "xla:PATH - PJRT plugin
// (PATH) v0.115 [StableHLO] [4 device(s)]") and counts the devices, and the
// reason a plugin was chosen ("found PJRT cpu plugin PATH") adds nothing
// when it only repeats the path.
func describe(desc string, devices int, plugin, reason string) string {
	for _, config := range []string{"xla:" + plugin, "xla:" + plugin + ",shared_buffers"} {
		if rest, ok := strings.CutPrefix(desc, config+" - "); ok && plugin != "" {
			desc = "xla, " + rest
		}
	}
	s := "backend " + desc
	if !strings.Contains(desc, "device(s)]") {
		s += fmt.Sprintf(", %d device(s)", devices)
	}
	if reason != "" && !(plugin != "" && strings.HasPrefix(reason, "found PJRT") && strings.Contains(desc, plugin)) {
		s += " (" + reason + ")"
	}
	return s
}
