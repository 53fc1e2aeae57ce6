package train

import (
	"os"
	"testing"

	"github.com/diffusion-go/ddpm/internal/testxla"
)

// TestMain compiles this package's graphs at LLVM optimization level 0
// (testxla.FastCompile): its tests are dominated by XLA's compile time.
func TestMain(m *testing.M) {
	testxla.FastCompile()
	os.Exit(m.Run())
}
