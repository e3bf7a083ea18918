package airlock_test

// Benchmarks for scripts/bindings-bench.sh: the one-call check and a feature check through
// cgo, on the site AIRLOCK_BENCH_SITE names (made by fixture.sh); skipped without it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"example.invalid/airlock"
)

func benchSite(b *testing.B) airlock.CheckOptions {
	site := os.Getenv("AIRLOCK_BENCH_SITE")
	if site == "" {
		b.Skip("AIRLOCK_BENCH_SITE is not set")
	}
	root, _ := os.ReadFile(filepath.Join(site, "root.txt"))
	return airlock.CheckOptions{Trust: filepath.Join(site, "trust.json"), LicenseDir: filepath.Join(site, "license"),
		StateDir: filepath.Join(site, "state"), Root: strings.TrimSpace(string(root)), Now: -1}
}

func BenchmarkCheck(b *testing.B) {
	o := benchSite(b)
	for i := 0; i < b.N; i++ {
		st, err := airlock.Check(o)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}

func BenchmarkFeature(b *testing.B) {
	st, err := airlock.Check(benchSite(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Feature("gate"); err != nil {
			b.Fatal(err)
		}
	}
}
