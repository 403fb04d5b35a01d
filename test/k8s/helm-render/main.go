// helm-render renders a Helm chart the way `helm template` does, for the tests of deploy/helm/stillpoint:
// Go's text/template with the sprig functions (minus env/expandenv, as Helm removes them) plus Helm's own
// include, tpl, required, fail, toYaml, fromYaml, toJson, fromJson; values read with sigs.k8s.io/yaml (so
// numbers are float64, as in Helm: an unconverted 1000000 renders as 1e+06); missingkey=zero and "<no value>"
// erased, as Helm's non-strict mode does. Built by the tests from Debian's Go packages (GOPATH mode, no network).
//
// Usage: helm-render <chart dir> <release> <namespace> <values overrides JSON file>
// Prints {"manifests": {"<chart>/templates/x.yaml": "..."}} or exits 1 with the template error on stderr.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 5 {
		fail(errors.New("usage: helm-render <chart dir> <release> <namespace> <values.json>"))
	}
	out, err := render(os.Args[1], os.Args[2], os.Args[3], os.Args[4])
	if err != nil {
		fail(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"manifests": out})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err.Error())
	os.Exit(1)
}

func readYaml(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return values, nil
}

// coalesce merges overrides into defaults, maps recursively (Helm: user values win; null deletes a key).
func coalesce(defaults, overrides map[string]interface{}) map[string]interface{} {
	for k, v := range overrides {
		if v == nil {
			delete(defaults, k)
			continue
		}
		dv, dok := defaults[k].(map[string]interface{})
		ov, ook := v.(map[string]interface{})
		if dok && ook {
			defaults[k] = coalesce(dv, ov)
		} else {
			defaults[k] = v
		}
	}
	return defaults
}

func render(chartDir, release, namespace, overridesPath string) (map[string]string, error) {
	meta, err := readYaml(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	values, err := readYaml(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	overrides, err := readYaml(overridesPath)
	if err != nil {
		return nil, err
	}
	chartName, _ := meta["name"].(string)
	top := map[string]interface{}{
		"Values": coalesce(values, overrides),
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": meta["version"], "AppVersion": meta["appVersion"], "Description": meta["description"],
		},
		"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"}},
	}

	t := template.New("gotpl").Option("missingkey=zero")
	includedNames := map[string]int{}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		var buf strings.Builder
		includedNames[name]++
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		parsed, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		err = parsed.Execute(&buf, data)
		return buf.String(), err
	}
	t.Funcs(funcs)

	var names []string
	root := filepath.Join(chartDir, "templates")
	err = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		name := chartName + "/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := t.New(name).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(filepath.Base(name), "_") {
			continue // partials define templates only
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return nil, err
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}
