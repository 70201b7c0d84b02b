// boxlite-e2e's Go SDK driver: the harness's cases, run through github.com/boxlite-ai/boxlite/sdks/go.
//
// The same protocol as drivers/node/driver.mjs (docs/architecture.md, "SDK drivers"): JSON
// lines over stdio, one long-lived process per pytest worker holding the SDK's native
// handles (runtimes, boxes, executions) between calls. The Python harness owns every box.
//
//	driver -> harness, first line: {"event":"ready","sdk":"go","package":...,"version":...,
//	                                 "capabilities":{...}}
//	harness -> driver: {"id": <int>, "op": <string>, ...arguments}
//	driver -> harness: {"id", "ok": true, "result": {...}}
//	                   {"id", "ok": false, "error": {"message", "name", "code"}}  (an SDK error)
//	                   {"id", "ok": false, "protocol_error": "<one line>"}       (a bad request)
//
// Requests run concurrently (one goroutine each); answers carry the request id. stdout
// carries protocol only; the driver's log goes to stderr, one line per event. EOF on stdin
// is an orderly exit (pending calls finish, runtimes closed).
//
// Which SDK era it is built against is chosen by build tags the bootstrap step reads from
// the checkout's sdks/go (rest_*.go, attach_*.go); a feature the SDK lacks is reported in
// the ready line's capabilities and refused as a protocol error naming it, never faked.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	boxlite "github.com/boxlite-ai/boxlite/sdks/go"
)

const pkgName = "github.com/boxlite-ai/boxlite/sdks/go"

// ------------------------------------------------------------------ output

var outMu sync.Mutex

func send(doc map[string]any) {
	line, err := json.Marshal(doc)
	if err != nil {
		line, _ = json.Marshal(map[string]any{
			"id": doc["id"], "ok": false, "protocol_error": "unencodable answer: " + err.Error(),
		})
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func logEvent(event string, fields ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s driver=go event=%s", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), event)
	for i := 0; i+1 < len(fields); i += 2 {
		v, _ := json.Marshal(fields[i+1])
		fmt.Fprintf(&b, " %v=%s", fields[i], v)
	}
	b.WriteByte('\n')
	os.Stderr.WriteString(b.String())
}

// ------------------------------------------------------------------ handles

type handle struct {
	kind string
	obj  any
}

var (
	handlesMu  sync.Mutex
	handles    = map[string]*handle{}
	nextHandle = 1
)

func keep(kind string, obj any) string {
	handlesMu.Lock()
	defer handlesMu.Unlock()
	id := fmt.Sprintf("%s%d", kind, nextHandle)
	nextHandle++
	handles[id] = &handle{kind: kind, obj: obj}
	return id
}

// protocolError is a request the driver refuses (bad argument, or a feature this SDK lacks).
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func refuse(format string, a ...any) error { return &protocolError{fmt.Sprintf(format, a...)} }

type args map[string]any

func (a args) handle(key, kind string) (*handle, error) {
	id, ok := a[key].(string)
	if !ok {
		return nil, refuse("'%s' must be a %s handle string", key, kind)
	}
	handlesMu.Lock()
	h := handles[id]
	handlesMu.Unlock()
	if h == nil || h.kind != kind {
		q, _ := json.Marshal(id)
		return nil, refuse("unknown %s handle %s", kind, q)
	}
	return h, nil
}

func (a args) present(key string) bool {
	v, ok := a[key]
	return ok && v != nil
}

func (a args) str(key string, optional bool) (string, bool, error) {
	if !a.present(key) {
		if optional {
			return "", false, nil
		}
		return "", false, refuse("'%s' is required", key)
	}
	s, ok := a[key].(string)
	if !ok {
		return "", false, refuse("'%s' must be a string", key)
	}
	return s, true, nil
}

func (a args) num(key string) (float64, bool, error) {
	if !a.present(key) {
		return 0, false, nil
	}
	f, ok := a[key].(float64)
	if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, refuse("'%s' must be a number", key)
	}
	return f, true, nil
}

func (a args) boolean(key string) (bool, bool, error) {
	if !a.present(key) {
		return false, false, nil
	}
	v, ok := a[key].(bool)
	if !ok {
		return false, false, refuse("'%s' must be a boolean", key)
	}
	return v, true, nil
}

func (a args) strList(key string) ([]string, error) {
	if !a.present(key) {
		return []string{}, nil
	}
	raw, ok := a[key].([]any)
	if !ok {
		return nil, refuse("'%s' must be a list of strings", key)
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, refuse("'%s' must be a list of strings", key)
		}
		out = append(out, s)
	}
	return out, nil
}

// envPairs: an object of strings, as sorted pairs (Go maps have no order; the SDK takes pairs).
func (a args) envPairs(key string) ([][2]string, bool, error) {
	if !a.present(key) {
		return nil, false, nil
	}
	raw, ok := a[key].(map[string]any)
	if !ok {
		return nil, false, refuse("'%s' must be an object of strings", key)
	}
	keys := make([]string, 0, len(raw))
	for k, v := range raw {
		if _, ok := v.(string); !ok {
			return nil, false, refuse("'%s' must be an object of strings", key)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([][2]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, [2]string{k, raw[k].(string)})
	}
	return pairs, true, nil
}

// ------------------------------------------------------------------ executions

// sink collects one stream of an execution; the SDK calls Write from its callback goroutine.
type sink struct {
	mu     sync.Mutex
	buf    []byte
	chunks int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	s.chunks++
	return len(p), nil
}

func (s *sink) take() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf), s.chunks
}

type execution struct {
	ex     *boxlite.Execution
	id     any // the execution id when the SDK has one (attach builds), else nil
	stdout *sink
	stderr *sink
}

func newExecution(start func(*boxlite.ExecutionOptions) (*boxlite.Execution, error), tty bool, id string) (*execution, error) {
	e := &execution{stdout: &sink{}, stderr: &sink{}}
	opts := &boxlite.ExecutionOptions{TTY: tty, Stdout: e.stdout, Stderr: e.stderr}
	if id != "" {
		setExecutionID(opts, id)
		e.id = id
	}
	ex, err := start(opts)
	if err != nil {
		return nil, err
	}
	e.ex = ex
	return e, nil
}

// ------------------------------------------------------------------ ops

var bg = context.Background()

type box struct {
	b       *boxlite.Box
	runtime string
}

func boxResult(b *boxlite.Box, runtimeID string) map[string]any {
	var name any
	if b.Name() != "" {
		name = b.Name()
	}
	return map[string]any{"box": keep("box", &box{b: b, runtime: runtimeID}), "box_id": b.ID(), "name": name}
}

func infoDoc(i boxlite.BoxInfo) map[string]any {
	var name, status any
	if i.Name != "" {
		name = i.Name
	}
	if i.State != "" {
		status = string(i.State)
	}
	return map[string]any{"id": i.ID, "name": name, "status": status}
}

func rt(a args) (*boxlite.Runtime, error) {
	h, err := a.handle("runtime", "runtime")
	if err != nil {
		return nil, err
	}
	return h.obj.(*boxlite.Runtime), nil
}

func boxOf(a args) (*boxlite.Box, error) {
	h, err := a.handle("box", "box")
	if err != nil {
		return nil, err
	}
	return h.obj.(*box).b, nil
}

func execOf(a args) (*execution, error) {
	h, err := a.handle("execution", "execution")
	if err != nil {
		return nil, err
	}
	return h.obj.(*execution), nil
}

type op func(args) (map[string]any, error)

var ops map[string]op

func init() {
	ops = map[string]op{
		"connect":       opConnect,
		"close_runtime": opCloseRuntime,
		"create":        opCreate,
		"get":           opGet,
		"get_info":      opGetInfo,
		"list_info":     opListInfo,
		"remove":        opRemove,
		"box_stop":      opBoxStop,
		"box_start":     opBoxStart,
		"exec":          opExec,
		"drain":         opDrain,
		"stdin_write":   opStdinWrite,
		"stdin_close":   opStdinClose,
		"kill":          opKill,
		"attach":        opAttach,
		"release":       opRelease,
	}
}

func opConnect(a args) (map[string]any, error) {
	url, _, err := a.str("url", false)
	if err != nil {
		return nil, err
	}
	key, _, err := a.str("api_key", false)
	if err != nil {
		return nil, err
	}
	prefix, _, err := a.str("prefix", true)
	if err != nil {
		return nil, err
	}
	r, err := newRest(url, key, prefix)
	if err != nil {
		return nil, err
	}
	return map[string]any{"runtime": keep("runtime", r)}, nil
}

func opCloseRuntime(a args) (map[string]any, error) {
	r, err := rt(a)
	if err != nil {
		return nil, err
	}
	r.Close()
	handlesMu.Lock()
	delete(handles, a["runtime"].(string))
	handlesMu.Unlock()
	return map[string]any{}, nil
}

// Box lifetimes: the harness always asks for bounded ones; the Go SDK has no such option, so
// they are dropped with a log line (the harness removes its boxes at teardown regardless) and
// the ready line reports box_lifetimes: false.
var lifetimeOptions = []string{"auto_stop", "auto_delete"}

// Options the protocol knows that this driver cannot pass to the Go SDK: refused.
var unsupportedOptions = map[string]string{
	"disk_size_gb": "disk size option",
	"auto_resume":  "auto-resume option",
}

func opCreate(a args) (map[string]any, error) {
	r, err := rt(a)
	if err != nil {
		return nil, err
	}
	var o args
	switch raw := a["options"].(type) {
	case nil:
		o = args{}
	case map[string]any:
		o = raw
	default:
		return nil, refuse("'options' must be an object")
	}
	image, _, err := o.str("image", false)
	if err != nil {
		return nil, err
	}
	for key, what := range unsupportedOptions {
		if o.present(key) {
			return nil, refuse("'%s': %s has no %s", key, pkgName, what)
		}
	}
	var opts []boxlite.BoxOption
	name, hasName, err := a.str("name", true)
	if err != nil {
		return nil, err
	}
	if hasName {
		opts = append(opts, boxlite.WithName(name))
	}
	if v, ok, err := o.num("cpus"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, boxlite.WithCPUs(int(v)))
	}
	if v, ok, err := o.num("memory_mib"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, boxlite.WithMemory(int(v)))
	}
	if wd, ok, err := o.str("working_dir", true); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, boxlite.WithWorkDir(wd))
	}
	env, _, err := o.envPairs("env")
	if err != nil {
		return nil, err
	}
	for _, kv := range env {
		opts = append(opts, boxlite.WithEnv(kv[0], kv[1]))
	}
	for _, key := range lifetimeOptions {
		if v, ok, err := o.num(key); err != nil {
			return nil, err
		} else if ok {
			logEvent("option_dropped", "option", key, "value", v, "reason", pkgName+" has no box lifetime options")
		}
	}
	b, err := r.Create(bg, image, opts...)
	if err != nil {
		return nil, err
	}
	return boxResult(b, a["runtime"].(string)), nil
}

// rtAndID: the runtime handle and the `id_or_name` argument, the pair every lookup needs.
func rtAndID(a args) (*boxlite.Runtime, string, error) {
	r, err := rt(a)
	if err != nil {
		return nil, "", err
	}
	id, _, err := a.str("id_or_name", false)
	return r, id, err
}

// findBox: the box with that id or name; nil and no error when the runtime has none.
func findBox(a args) (*boxlite.Box, error) {
	r, id, err := rtAndID(a)
	if err != nil {
		return nil, err
	}
	b, err := r.Get(bg, id)
	if boxlite.IsNotFound(err) || (err == nil && b == nil) {
		return nil, nil
	}
	return b, err
}

func opGet(a args) (map[string]any, error) {
	b, err := findBox(a)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return map[string]any{"box": nil}, nil
	}
	return boxResult(b, a["runtime"].(string)), nil
}

func opGetInfo(a args) (map[string]any, error) {
	// The Go SDK reads info through a box handle: get it, read, release it.
	b, err := findBox(a)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return map[string]any{"info": nil}, nil
	}
	defer b.Close()
	info, err := b.Info(bg)
	if err != nil {
		return nil, err
	}
	return map[string]any{"info": infoDoc(*info)}, nil
}

func opListInfo(a args) (map[string]any, error) {
	r, err := rt(a)
	if err != nil {
		return nil, err
	}
	infos, err := r.ListInfo(bg)
	if err != nil {
		return nil, err
	}
	boxes := make([]map[string]any, 0, len(infos))
	for _, i := range infos {
		boxes = append(boxes, infoDoc(i))
	}
	return map[string]any{"boxes": boxes}, nil
}

func opRemove(a args) (map[string]any, error) {
	r, id, err := rtAndID(a)
	if err != nil {
		return nil, err
	}
	force, _ := a["force"].(bool)
	if force {
		err = r.ForceRemove(bg, id)
	} else {
		err = r.Remove(bg, id)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func opBoxStop(a args) (map[string]any, error) {
	b, err := boxOf(a)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, b.Stop(bg)
}

func opBoxStart(a args) (map[string]any, error) {
	b, err := boxOf(a)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, b.Start(bg)
}

// Per-execution settings the Go SDK's ExecutionOptions does not carry: refused by name.
var unsupportedExecArgs = []string{"env", "user", "timeout_s", "working_dir"}

func opExec(a args) (map[string]any, error) {
	b, err := boxOf(a)
	if err != nil {
		return nil, err
	}
	command, _, err := a.str("command", false)
	if err != nil {
		return nil, err
	}
	argv, err := a.strList("args")
	if err != nil {
		return nil, err
	}
	tty, _, err := a.boolean("tty")
	if err != nil {
		return nil, err
	}
	for _, key := range unsupportedExecArgs {
		if a.present(key) {
			return nil, refuse("'%s': %s's ExecutionOptions has no per-execution %s", key, pkgName, key)
		}
	}
	e, err := newExecution(func(o *boxlite.ExecutionOptions) (*boxlite.Execution, error) {
		return b.StartExecution(bg, command, argv, o)
	}, tty, mintExecutionID())
	if err != nil {
		return nil, err
	}
	return map[string]any{"execution": keep("execution", e), "execution_id": e.id}, nil
}

// drain: wait for the exit, then report what the stream callbacks delivered (the SDK's own
// buffered Exec reads its collectors the same way, after Wait).
func opDrain(a args) (map[string]any, error) {
	e, err := execOf(a)
	if err != nil {
		return nil, err
	}
	code, err := e.ex.Wait(bg)
	if err != nil {
		return nil, err
	}
	out, chunks := e.stdout.take()
	errText, _ := e.stderr.take()
	return map[string]any{
		"stdout":        out,
		"stderr":        errText,
		"stdout_chunks": chunks,
		"exit_code":     code,
		"error_message": nil,
	}, nil
}

func opStdinWrite(a args) (map[string]any, error) {
	e, err := execOf(a)
	if err != nil {
		return nil, err
	}
	data, _, err := a.str("data", false)
	if err != nil {
		return nil, err
	}
	if e.ex.Stdin == nil {
		return nil, refuse("this execution has no stdin writer")
	}
	if _, err := io.WriteString(e.ex.Stdin, data); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func opStdinClose(a args) (map[string]any, error) {
	if _, err := execOf(a); err != nil {
		return nil, err
	}
	return nil, refuse("%s has no way to close an execution's stdin (Execution.Stdin is an io.Writer)", pkgName)
}

func opKill(a args) (map[string]any, error) {
	e, err := execOf(a)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, e.ex.Kill(bg)
}

func opAttach(a args) (map[string]any, error) {
	b, err := boxOf(a)
	if err != nil {
		return nil, err
	}
	id, _, err := a.str("execution_id", false)
	if err != nil {
		return nil, err
	}
	if !attachSupported {
		return nil, refuse("%s (this build) has no Box.AttachExecution(executionID)", pkgName)
	}
	e, err := newExecution(func(o *boxlite.ExecutionOptions) (*boxlite.Execution, error) {
		return attachExecution(b, id, o)
	}, false, "")
	if err != nil {
		return nil, err
	}
	e.id = id
	return map[string]any{"execution": keep("execution", e), "execution_id": id}, nil
}

func opRelease(a args) (map[string]any, error) {
	ids, err := a.strList("handles")
	if err != nil {
		return nil, err
	}
	handlesMu.Lock()
	var freed []*handle
	for _, id := range ids {
		if h := handles[id]; h != nil {
			freed = append(freed, h)
			delete(handles, id)
		}
	}
	handlesMu.Unlock()
	for _, h := range freed {
		switch obj := h.obj.(type) {
		case *box:
			obj.b.Close()
		case *execution:
			obj.ex.Close()
		}
	}
	return map[string]any{}, nil
}

// capabilities: what this SDK build can do that the protocol exposes; the harness reports
// cases needing a missing one as not applicable.
func capabilities() map[string]any {
	return map[string]any{
		"attach":        attachSupported, // Box.AttachExecution(executionID)
		"stdin_close":   false,
		"exec_env":      false, // per-execution env, user, timeout, working dir
		"box_lifetimes": false, // auto_stop / auto_delete
	}
}

// ------------------------------------------------------------------ loop

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sdkError(err error) map[string]any {
	var be *boxlite.Error
	if errors.As(err, &be) {
		// The core's Display text, which the harness maps to a kind (kind_of_message);
		// Error() would prefix it with "boxlite: ".
		return map[string]any{"message": be.Message, "name": "boxlite.Error", "code": int(be.Code)}
	}
	return map[string]any{"message": err.Error(), "name": fmt.Sprintf("%T", err), "code": nil}
}

func summary(name string, result map[string]any) []any {
	switch name {
	case "create", "get":
		return []any{"box_id", result["box_id"]}
	case "exec":
		return []any{"execution_id", result["execution_id"]}
	case "drain":
		return []any{"exit_code", result["exit_code"], "stdout_bytes", len(result["stdout"].(string)),
			"stderr_bytes", len(result["stderr"].(string))}
	}
	return nil
}

func serve(line []byte) {
	var raw any
	if err := json.Unmarshal(line, &raw); err != nil {
		logEvent("protocol_error", "reason", "not JSON")
		send(map[string]any{"id": nil, "ok": false, "protocol_error": "request is not JSON: " + oneLine(err.Error())})
		return
	}
	req, ok := raw.(map[string]any)
	if !ok {
		send(map[string]any{"id": nil, "ok": false, "protocol_error": "request must be a JSON object"})
		return
	}
	idf, ok := req["id"].(float64)
	if !ok || idf != math.Trunc(idf) {
		send(map[string]any{"id": nil, "ok": false, "protocol_error": "request 'id' must be an integer"})
		return
	}
	id := int64(idf)
	name, _ := req["op"].(string)
	fn, known := ops[name]
	if !known {
		names := make([]string, 0, len(ops))
		for k := range ops {
			names = append(names, k)
		}
		sort.Strings(names)
		q, _ := json.Marshal(req["op"])
		logEvent("protocol_error", "id", id, "op", req["op"])
		send(map[string]any{"id": id, "ok": false,
			"protocol_error": fmt.Sprintf("unknown op %s; known: %s", q, strings.Join(names, ", "))})
		return
	}
	started := time.Now()
	result, err := call(fn, args(req))
	ms := time.Since(started).Milliseconds()
	var pe *protocolError
	switch {
	case errors.As(err, &pe):
		logEvent("protocol_error", "id", id, "op", name, "reason", pe.msg)
		send(map[string]any{"id": id, "ok": false, "protocol_error": name + ": " + pe.msg})
	case err != nil:
		doc := sdkError(err)
		logEvent("op", "id", id, "op", name, "ok", false, "ms", ms, "error", doc["message"])
		send(map[string]any{"id": id, "ok": false, "error": doc})
	default:
		fields := append([]any{"id", id, "op", name, "ok", true, "ms", ms}, summary(name, result)...)
		logEvent("op", fields...)
		send(map[string]any{"id": id, "ok": true, "result": result})
	}
}

// call runs one op; a panic inside the SDK becomes that request's error, not a dead driver.
func call(fn op, a args) (result map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("driver panic: %v", p)
		}
	}()
	return fn(a)
}

func main() {
	version := boxlite.Version()
	logEvent("ready", "version", version, "pid", os.Getpid())
	send(map[string]any{"event": "ready", "sdk": "go", "package": pkgName, "version": version,
		"go": runtime.Version(), "capabilities": capabilities()})

	var pending sync.WaitGroup
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if trimmed := strings.TrimSpace(string(line)); trimmed != "" {
			pending.Add(1)
			go func(l []byte) {
				defer pending.Done()
				serve(l)
			}([]byte(trimmed))
		}
		if err != nil {
			break
		}
	}
	pending.Wait()
	handlesMu.Lock()
	for _, h := range handles {
		if r, ok := h.obj.(*boxlite.Runtime); ok {
			r.Close()
		}
	}
	handlesMu.Unlock()
	logEvent("exit", "reason", "stdin closed")
}
