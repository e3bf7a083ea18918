package airlock_test

// The repository's language-neutral vectors and the scenario the C, Python and Node tests run,
// through the Go API: errors.Is on check codes, a status read from several goroutines, the
// verdicts runtime-verify gave (fixture.sh) on a tampered bundle and on evaluation terms.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"example.invalid/airlock"
)

func repo(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func header(t *testing.T, dir string) map[string]string {
	b, err := os.ReadFile(filepath.Join(dir, "case.txt"))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return h
}

func TestVectors(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(repo(t), "vectors", "*", "*"))
	n := 0
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "case.txt")); err != nil {
			continue
		}
		n++
		d := d
		t.Run(filepath.Base(filepath.Dir(d))+"/"+filepath.Base(d), func(t *testing.T) {
			h := header(t, d)
			kind := h["verify"]
			trust := filepath.Join(d, "trust.json")
			doc, sig := trust, ""
			switch kind {
			case "trust":
			case "bundle":
				doc = filepath.Join(d, "bundle.tar.gz")
				sig = doc + ".sig"
			default:
				doc = filepath.Join(d, kind+".json")
				if _, err := os.Stat(filepath.Join(d, kind+".sig")); err == nil {
					sig = filepath.Join(d, kind+".sig")
				}
			}
			var at int64
			if h["at"] != "" {
				tm, err := time.Parse(time.RFC3339, h["at"])
				if err != nil {
					t.Fatal(err)
				}
				at = tm.Unix()
			}
			context := h["signed-at"]
			if context == "" {
				context = h["runtime-version"]
			}
			root, _ := os.ReadFile(filepath.Join(d, "anchor.txt"))
			v, err := airlock.Verify(kind, trust, strings.TrimSpace(string(root)), doc, sig, at, context)
			got := "valid"
			var ae *airlock.Error
			switch {
			case errors.As(err, &ae) && ae.Kind == airlock.Rejected:
				got = "rejected " + ae.Code
			case err != nil:
				t.Fatal(err)
			case strings.HasPrefix(h["expect"], "valid "):
				got = "valid " + v["state"].(string)
			}
			if got != h["expect"] {
				t.Errorf("expected %s, got %s (%s)", h["expect"], got, h["comment"])
			}
		})
	}
	if n < 50 {
		t.Fatalf("only %d vectors", n)
	}
}

// said is what runtime-verify said in the fixture (fixture.sh).
func said(t *testing.T, site, name string) string {
	b, err := os.ReadFile(filepath.Join(site, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// evaluation: terms started here on a fresh state, then 61 days on, in the states
// runtime-verify gave; the gate closes with evaluation_expired and 402.
func evaluation(t *testing.T, site, trust, root string) {
	o := airlock.CheckOptions{Trust: trust, LicenseDir: filepath.Join(site, "evaluation"),
		StateDir: filepath.Join(site, "state-eval-go"), Root: root, Now: -1}
	st, err := airlock.Check(o)
	if err != nil || st.State() != said(t, site, "evaluation.state") || st.Feature("gate") != nil {
		t.Fatalf("evaluation: %v %v", st, err)
	}
	st.Close()
	later, err := strconv.ParseInt(said(t, site, "evaluation-later.time"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	o.Root, o.Now = "", later
	st, err = airlock.Check(o)
	if err != nil || st.State() != said(t, site, "evaluation-later.state") {
		t.Fatalf("61 days on: %v %v", st, err)
	}
	defer st.Close()
	var ae *airlock.Error
	err = st.Feature("gate")
	if !errors.Is(err, airlock.Code("evaluation_expired")) || !errors.As(err, &ae) || ae.HTTPStatus != 402 {
		t.Fatalf("the gate after the evaluation: %v", err)
	}
}

func TestScenario(t *testing.T) {
	site := t.TempDir()
	bin := os.Getenv("AIRLOCK_BIN")
	if bin == "" {
		bin = filepath.Join(repo(t), "target", "debug")
	}
	cmd := exec.Command("bash", filepath.Join(repo(t), "crates/runtime-ffi/tests/c/fixture.sh"), site)
	cmd.Env = append(os.Environ(), "BIN="+bin)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIRLOCK_INSTANCE_ID", "ffi-test-machine")
	trust := filepath.Join(site, "trust.json")
	lic := filepath.Join(site, "license")
	state := filepath.Join(site, "state")
	root, _ := os.ReadFile(filepath.Join(site, "root.txt"))

	st, err := airlock.Check(airlock.CheckOptions{Trust: trust, LicenseDir: lic, StateDir: state, Root: strings.TrimSpace(string(root)), Now: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.State() != "active" {
		t.Fatalf("state %s", st.State())
	}
	data, err := st.Data()
	if err != nil || data["activation"].(map[string]any)["kind"] != "lease" {
		t.Fatalf("data %v %v", data, err)
	}
	if err := st.Feature("gate"); err != nil {
		t.Fatal(err)
	}
	err = st.Feature("teleport")
	var ae *airlock.Error
	if !errors.Is(err, airlock.ErrFeatureNotLicensed) || !errors.As(err, &ae) || ae.HTTPStatus != 402 || ae.Kind != airlock.Denied {
		t.Fatalf("unlicensed feature: %v", err)
	}
	if err := st.Limit("agents", 1000000); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	denied := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if st.Feature("gate") != nil {
					mu.Lock()
					denied++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if denied != 0 {
		t.Fatalf("denied %d times", denied)
	}

	extract := filepath.Join(site, "extracted-go")
	v, err := airlock.VerifyBundle(filepath.Join(site, "bundle.tar.gz"), "", trust, "", state, extract, -1)
	if err != nil || v["product"] != "gateway" {
		t.Fatalf("bundle %v %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(extract, "payload", "README.txt")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(site, "tampered.tar.gz")
	want := said(t, site, "tampered.check")
	if _, err := airlock.VerifyBundle(bad, filepath.Join(site, "bundle.tar.gz.sig"), trust, "", state, "", -1); !errors.As(err, &ae) || ae.Kind != airlock.Rejected || !errors.Is(err, airlock.Code(want)) {
		t.Fatalf("tampered: %v, runtime-verify said %s", err, want)
	}
	evaluation(t, site, trust, strings.TrimSpace(string(root)))

	// The small example product gates like the Rust one: exit 3, 402 and the code.
	exe := filepath.Join(t.TempDir(), "example-product")
	if b, err := exec.Command("go", "build", "-o", exe, "./cmd/example-product").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out, err := exec.Command(exe, trust, lic, state, "gate", "teleport").Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 ||
		!strings.Contains(string(out), "feature gate: allowed") ||
		!strings.Contains(string(out), "feature teleport: 402 feature_not_licensed") {
		t.Fatalf("example product: %v\n%s", err, out)
	}

	if err := airlock.ImportRevocations(filepath.Join(site, "revocations", "revocations.json"), "", trust, "", state, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := airlock.Check(airlock.CheckOptions{Trust: trust, LicenseDir: lic, StateDir: state, Now: -1}); !errors.Is(err, airlock.ErrLicenseRevoked) {
		t.Fatalf("after the list: %v", err)
	}
	if _, err := airlock.Verify("teleport", trust, "x", trust, "", 0, ""); !errors.Is(err, airlock.ErrUsage) {
		t.Fatalf("usage: %v", err)
	}
	if airlock.Version() == "" {
		t.Fatal("no version")
	}
}
