//! Thin typed wrappers over the containerd-client gRPC stubs: every request
//! carries the namespace header (and the step's lease header when there is
//! one), every failure comes back as an [`RpcError`] naming what was asked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, ListSnapshotsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
    ViewSnapshotRequest,
};
use containerd_client::services::v1::{
    AddResourceRequest, ApplyRequest, Container, CreateContainerRequest, CreateRequest as CreateLeaseRequest,
    CreateTaskRequest, DeleteContainerRequest, DeleteRequest as DeleteLeaseRequest, DeleteTaskRequest, DiffRequest,
    InfoRequest, KillRequest, ListContainersRequest, ListRequest as ListLeasesRequest, ListResourcesRequest,
    ReadContentRequest, Resource, StartRequest, WaitRequest, WriteAction, WriteContentRequest,
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    leases_client::LeasesClient, tasks_client::TasksClient,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request, Status};
use containerd_client::types::{Descriptor, Mount};
use containerd_client::with_namespace;
use tokio::io::AsyncReadExt;

/// The header containerd reads the lease of a request from
/// (`github.com/containerd/containerd/leases/grpc.go`).
const LEASE_HEADER: &str = "containerd-lease";
/// Bytes per `Content.Write` message: well under gRPC's 4 MiB default limit.
const WRITE_CHUNK: usize = 1 << 20;

/// A failed call: what was asked, and containerd's status.
#[derive(Debug)]
pub(crate) struct RpcError {
    pub what: String,
    pub status: Status,
}

impl RpcError {
    pub fn code(&self) -> Code {
        self.status.code()
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg = self.status.message();
        let msg = if msg.is_empty() { "(no message)" } else { msg };
        write!(f, "{}: {} ({:?})", self.what, msg, self.status.code())
    }
}

pub(crate) type Rpc<T> = Result<T, RpcError>;

fn ctx(what: impl FnOnce() -> String) -> impl FnOnce(Status) -> RpcError {
    move |status| RpcError { what: what(), status }
}

/// Ignores "not found" (the thing is already gone).
pub(crate) fn gone_ok(r: Rpc<()>) -> Rpc<()> {
    match r {
        Err(e) if e.code() == Code::NotFound => Ok(()),
        r => r,
    }
}

/// One namespace on one containerd, optionally inside a lease.
#[derive(Clone)]
pub(crate) struct Conn {
    channel: Channel,
    namespace: String,
    lease: Option<String>,
    pub snapshotter: String,
}

impl Conn {
    pub fn new(channel: Channel, namespace: &str, snapshotter: &str) -> Conn {
        Conn { channel, namespace: namespace.to_owned(), lease: None, snapshotter: snapshotter.to_owned() }
    }

    /// The same connection, with every request made inside `lease`.
    pub fn with_lease(&self, lease: &str) -> Conn {
        Conn { lease: Some(lease.to_owned()), ..self.clone() }
    }

    /// Wraps a message with the namespace (and lease) headers. Both are
    /// validated identifiers, so they are always valid header values.
    fn req<T>(&self, msg: T) -> Request<T> {
        let mut req = with_namespace!(msg, self.namespace.as_str());
        if let Some(lease) = &self.lease {
            req.metadata_mut().insert(LEASE_HEADER, lease.parse().expect("a lease id is a valid header value"));
        }
        req
    }

    // ------------------------------------------------------------ leases

    /// Creates lease `id` with `labels` (`containerd.io/gc.expire`: collected
    /// by containerd after that time even if strata dies without deleting it).
    pub async fn create_lease(&self, id: &str, labels: HashMap<String, String>) -> Rpc<()> {
        let req = self.req(CreateLeaseRequest { id: id.to_owned(), labels });
        LeasesClient::new(self.channel.clone()).create(req).await.map_err(ctx(|| format!("create lease {id}")))?;
        Ok(())
    }

    pub async fn delete_lease(&self, id: &str) -> Rpc<()> {
        let req = self.req(DeleteLeaseRequest { id: id.to_owned(), sync: false });
        LeasesClient::new(self.channel.clone()).delete(req).await.map_err(ctx(|| format!("delete lease {id}")))?;
        Ok(())
    }

    /// Every lease in the namespace: (id, labels).
    pub async fn list_leases(&self) -> Rpc<Vec<(String, HashMap<String, String>)>> {
        let req = self.req(ListLeasesRequest { filters: Vec::new() });
        let r = LeasesClient::new(self.channel.clone()).list(req).await.map_err(ctx(|| "list leases".to_owned()))?;
        Ok(r.into_inner().leases.into_iter().map(|l| (l.id, l.labels)).collect())
    }

    /// What lease `id` holds: (type, id), e.g. (`snapshots/overlayfs`, a snapshot key).
    pub async fn lease_resources(&self, id: &str) -> Rpc<Vec<(String, String)>> {
        let req = self.req(ListResourcesRequest { id: id.to_owned() });
        let r = LeasesClient::new(self.channel.clone())
            .list_resources(req)
            .await
            .map_err(ctx(|| format!("list the resources of lease {id}")))?;
        Ok(r.into_inner().resources.into_iter().map(|r| (r.r#type, r.id)).collect())
    }

    /// Adds an existing resource (`content` or `snapshots/<snapshotter>`) to
    /// this connection's lease, so containerd's GC keeps it for the step.
    pub async fn lease_add(&self, kind: &str, id: &str) -> Rpc<()> {
        let Some(lease) = self.lease.clone() else { return Ok(()) };
        let resource = Resource { id: id.to_owned(), r#type: kind.to_owned() };
        let req = self.req(AddResourceRequest { id: lease.clone(), resource: Some(resource) });
        LeasesClient::new(self.channel.clone())
            .add_resource(req)
            .await
            .map_err(ctx(|| format!("add {kind} {id} to lease {lease}")))?;
        Ok(())
    }

    // ------------------------------------------------------------ content

    pub async fn content_exists(&self, digest: &str) -> Rpc<bool> {
        let req = self.req(InfoRequest { digest: digest.to_owned() });
        match ContentClient::new(self.channel.clone()).info(req).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(RpcError { what: format!("content info {digest}"), status: s }),
        }
    }

    /// Streams the file at `path` into the content store as `digest`
    /// (`Content.Write`: writes, then a commit checked against `expected`
    /// and `total`). Content that appeared meanwhile counts as written.
    pub async fn write_blob(&self, path: &Path, digest: &str, size: u64, write_ref: &str) -> Rpc<()> {
        let what = || format!("write blob {digest} into containerd's content store");
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| RpcError { what: what(), status: Status::internal(format!("{}: {e}", path.display())) })?;
        let read_error: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
        let state = WriteState {
            file,
            offset: 0,
            done: false,
            write_ref: write_ref.to_owned(),
            digest: digest.to_owned(),
            total: size as i64,
            error: read_error.clone(),
        };
        let messages = futures_util::stream::unfold(state, next_write_message);
        let mut replies = match ContentClient::new(self.channel.clone()).write(self.req(messages)).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::AlreadyExists => return Ok(()),
            Err(s) => {
                return Err(RpcError { what: what(), status: s });
            }
        };
        let mut committed = false;
        loop {
            match replies.message().await {
                Ok(Some(m)) => committed |= m.action == WriteAction::Commit as i32,
                Ok(None) => break,
                Err(s) if s.code() == Code::AlreadyExists => return Ok(()),
                Err(s) => {
                    return Err(RpcError { what: what(), status: s });
                }
            }
        }
        if let Some(e) = read_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(RpcError { what: what(), status: Status::internal(format!("{}: {e}", path.display())) });
        }
        if !committed {
            return Err(RpcError { what: what(), status: Status::unknown("containerd did not confirm the commit") });
        }
        Ok(())
    }

    /// Reads a blob out of the content store into `out`.
    pub async fn read_blob(&self, digest: &str, out: &mut impl std::io::Write) -> Rpc<()> {
        let what = || format!("read {digest} from containerd's content store");
        let req = self.req(ReadContentRequest { digest: digest.to_owned(), offset: 0, size: 0 });
        let mut replies = ContentClient::new(self.channel.clone()).read(req).await.map_err(ctx(what))?.into_inner();
        while let Some(m) = replies.message().await.map_err(ctx(what))? {
            out.write_all(&m.data).map_err(|e| RpcError { what: what(), status: Status::internal(e.to_string()) })?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ snapshots

    fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }

    pub async fn snapshot_exists(&self, key: &str) -> Rpc<bool> {
        let req = self.req(StatSnapshotRequest { snapshotter: self.snapshotter.clone(), key: key.to_owned() });
        match self.snapshots().stat(req).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            Err(s) => Err(RpcError { what: format!("stat snapshot {key}"), status: s }),
        }
    }

    /// An active (writable) snapshot `key` over `parent` (none: empty).
    pub async fn prepare(&self, key: &str, parent: Option<&str>) -> Rpc<Vec<Mount>> {
        let req = self.req(PrepareSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_owned(),
            parent: parent.unwrap_or_default().to_owned(),
            labels: HashMap::new(),
        });
        let r = self.snapshots().prepare(req).await.map_err(ctx(|| format!("prepare snapshot {key}")))?;
        Ok(r.into_inner().mounts)
    }

    /// A read-only view `key` of `parent`.
    pub async fn view(&self, key: &str, parent: &str) -> Rpc<Vec<Mount>> {
        let req = self.req(ViewSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_owned(),
            parent: parent.to_owned(),
            labels: HashMap::new(),
        });
        let r = self.snapshots().view(req).await.map_err(ctx(|| format!("view snapshot {parent}")))?;
        Ok(r.into_inner().mounts)
    }

    pub async fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Rpc<()> {
        let req = self.req(CommitSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            name: name.to_owned(),
            key: key.to_owned(),
            labels,
        });
        self.snapshots().commit(req).await.map_err(ctx(|| format!("commit snapshot {key} as {name}")))?;
        Ok(())
    }

    pub async fn remove_snapshot(&self, key: &str) -> Rpc<()> {
        let req = self.req(RemoveSnapshotRequest { snapshotter: self.snapshotter.clone(), key: key.to_owned() });
        self.snapshots().remove(req).await.map_err(ctx(|| format!("remove snapshot {key}")))?;
        Ok(())
    }

    /// Every snapshot of this snapshotter in the namespace: (name, parent, labels).
    pub async fn list_snapshots(&self) -> Rpc<Vec<(String, String, HashMap<String, String>)>> {
        let req = self.req(ListSnapshotsRequest { snapshotter: self.snapshotter.clone(), filters: Vec::new() });
        let mut replies = self.snapshots().list(req).await.map_err(ctx(|| "list snapshots".to_owned()))?.into_inner();
        let mut out = Vec::new();
        while let Some(m) = replies.message().await.map_err(ctx(|| "list snapshots".to_owned()))? {
            out.extend(m.info.into_iter().map(|i| (i.name, i.parent, i.labels)));
        }
        Ok(out)
    }

    // ------------------------------------------------------------ diff

    /// Unpacks the layer `desc` onto `mounts`; returns the digest of the
    /// uncompressed stream containerd applied (the layer's diff_id).
    pub async fn apply(&self, desc: Descriptor, mounts: Vec<Mount>) -> Rpc<String> {
        let digest = desc.digest.clone();
        let req = self.req(ApplyRequest { diff: Some(desc), mounts, payloads: HashMap::new(), sync_fs: false });
        let r =
            DiffClient::new(self.channel.clone()).apply(req).await.map_err(ctx(|| format!("apply layer {digest}")))?;
        Ok(r.into_inner().applied.map(|d| d.digest).unwrap_or_default())
    }

    /// The changes from `left` to `right` as an uncompressed OCI layer in
    /// the content store; returns its digest.
    pub async fn diff(&self, left: Vec<Mount>, right: Vec<Mount>, diff_ref: &str) -> Rpc<String> {
        let req = self.req(DiffRequest {
            left,
            right,
            media_type: "application/vnd.oci.image.layer.v1.tar".to_owned(),
            r#ref: diff_ref.to_owned(),
            labels: HashMap::new(),
            source_date_epoch: None,
        });
        let r =
            DiffClient::new(self.channel.clone()).diff(req).await.map_err(ctx(|| "diff the step's snapshot".into()))?;
        r.into_inner().diff.map(|d| d.digest).ok_or_else(|| RpcError {
            what: "diff the step's snapshot".into(),
            status: Status::unknown("no descriptor in the reply"),
        })
    }

    // ------------------------------------------------------------ containers and tasks

    pub async fn create_container(
        &self,
        id: &str,
        runtime: &str,
        spec: prost_types::Any,
        snapshot_key: &str,
        labels: HashMap<String, String>,
    ) -> Rpc<()> {
        let container = Container {
            id: id.to_owned(),
            labels,
            runtime: Some(Runtime { name: runtime.to_owned(), options: None }),
            spec: Some(spec),
            snapshotter: self.snapshotter.clone(),
            snapshot_key: snapshot_key.to_owned(),
            ..Default::default()
        };
        let req = self.req(CreateContainerRequest { container: Some(container) });
        ContainersClient::new(self.channel.clone())
            .create(req)
            .await
            .map_err(ctx(|| format!("create container {id}")))?;
        Ok(())
    }

    /// Every container in the namespace: (id, labels).
    pub async fn list_containers(&self) -> Rpc<Vec<(String, HashMap<String, String>)>> {
        let req = self.req(ListContainersRequest { filters: Vec::new() });
        let r = ContainersClient::new(self.channel.clone())
            .list(req)
            .await
            .map_err(ctx(|| "list containers".to_owned()))?;
        Ok(r.into_inner().containers.into_iter().map(|c| (c.id, c.labels)).collect())
    }

    pub async fn delete_container(&self, id: &str) -> Rpc<()> {
        let req = self.req(DeleteContainerRequest { id: id.to_owned() });
        ContainersClient::new(self.channel.clone())
            .delete(req)
            .await
            .map_err(ctx(|| format!("delete container {id}")))?;
        Ok(())
    }

    fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }

    pub async fn create_task(&self, id: &str, rootfs: Vec<Mount>, stdout: &Path, stderr: &Path) -> Rpc<()> {
        let req = self.req(CreateTaskRequest {
            container_id: id.to_owned(),
            rootfs,
            stdin: String::new(),
            stdout: stdout.to_string_lossy().into_owned(),
            stderr: stderr.to_string_lossy().into_owned(),
            ..Default::default()
        });
        self.tasks().create(req).await.map_err(ctx(|| format!("create task {id}")))?;
        Ok(())
    }

    pub async fn start_task(&self, id: &str) -> Rpc<()> {
        let req = self.req(StartRequest { container_id: id.to_owned(), exec_id: String::new() });
        self.tasks().start(req).await.map_err(ctx(|| format!("start task {id}")))?;
        Ok(())
    }

    /// Waits for the task to exit; returns its exit status (128+n if
    /// killed by signal n).
    pub async fn wait_task(&self, id: &str) -> Rpc<u32> {
        let req = self.req(WaitRequest { container_id: id.to_owned(), exec_id: String::new() });
        let r = self.tasks().wait(req).await.map_err(ctx(|| format!("wait for task {id}")))?;
        Ok(r.into_inner().exit_status)
    }

    /// Sends `signal` to every process of the task.
    pub async fn kill_task(&self, id: &str, signal: u32) -> Rpc<()> {
        let req = self.req(KillRequest { container_id: id.to_owned(), exec_id: String::new(), signal, all: true });
        self.tasks().kill(req).await.map_err(ctx(|| format!("kill task {id}")))?;
        Ok(())
    }

    pub async fn delete_task(&self, id: &str) -> Rpc<()> {
        let req = self.req(DeleteTaskRequest { container_id: id.to_owned() });
        self.tasks().delete(req).await.map_err(ctx(|| format!("delete task {id}")))?;
        Ok(())
    }
}

struct WriteState {
    file: tokio::fs::File,
    offset: i64,
    done: bool,
    write_ref: String,
    digest: String,
    total: i64,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

/// The next `Content.Write` message: data chunks, then one commit. A read
/// error ends the stream early (no commit) and is reported by the caller.
async fn next_write_message(mut st: WriteState) -> Option<(WriteContentRequest, WriteState)> {
    if st.done {
        return None;
    }
    let mut buf = vec![0u8; WRITE_CHUNK];
    let mut n = 0;
    while n < buf.len() {
        match st.file.read(&mut buf[n..]).await {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                *st.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                return None;
            }
        }
    }
    buf.truncate(n);
    let action = if n == 0 { WriteAction::Commit } else { WriteAction::Write };
    let msg = WriteContentRequest {
        action: action as i32,
        r#ref: st.write_ref.clone(),
        total: st.total,
        expected: st.digest.clone(),
        offset: st.offset,
        data: buf,
        labels: HashMap::new(),
    };
    st.offset += n as i64;
    st.done = n == 0;
    Some((msg, st))
}
