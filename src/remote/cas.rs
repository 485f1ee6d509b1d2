//! Moving blobs between a machine and the farm's CAS: `FindMissingBlobs`
//! first, so nothing the farm has goes up again; small blobs in batches
//! (`BatchUpdateBlobs`, `BatchReadBlobs`), large ones streamed through
//! ByteStream in 1 MiB chunks. Every blob read is checked against its
//! digest before it is used.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::client::{Farm, bs, pb};
use super::{RemoteError, Result};
use crate::store::Store;

/// Blobs up to this size go in batches; larger ones are streamed.
const BATCH_BLOB: i64 = 512 << 10;
/// The most bytes in one batch call (under gRPC's 4 MiB default).
const BATCH_TOTAL: i64 = 2 << 20;
const CHUNK: usize = 1 << 20;

/// Where a blob to upload is.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// A blob to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub digest: pb::Digest,
    pub source: Source,
}

impl Upload {
    pub fn bytes(bytes: Vec<u8>) -> Upload {
        Upload { digest: super::digest_of(&bytes), source: Source::Bytes(bytes) }
    }

    fn read_all(&self) -> Result<Vec<u8>> {
        match &self.source {
            Source::Bytes(b) => Ok(b.clone()),
            Source::File(p) => std::fs::read(p).map_err(io("cannot read", p)),
        }
    }
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> RemoteError + 'p {
    move |source| RemoteError::Io { what, path: path.to_path_buf(), source }
}

/// What an upload moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moved {
    pub blobs: usize,
    pub bytes: u64,
}

fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let seed =
        format!("{:?} {} {}", std::time::SystemTime::now(), std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let h = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

impl Farm {
    fn resource(&self, rest: String) -> String {
        if self.instance.is_empty() { rest } else { format!("{}/{rest}", self.instance) }
    }

    fn cas(
        &self,
    ) -> pb::content_addressable_storage_client::ContentAddressableStorageClient<tonic::transport::Channel> {
        pb::content_addressable_storage_client::ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(64 << 20)
    }

    /// Which of `digests` the CAS lacks.
    pub async fn find_missing(&self, digests: &[pb::Digest]) -> Result<Vec<pb::Digest>> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(1000) {
            let req = pb::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.to_vec(),
                ..Default::default()
            };
            let r = self
                .retry(|| {
                    let (mut c, r) = (self.cas(), self.req(req.clone()));
                    async move { c.find_missing_blobs(r).await }
                })
                .await
                .map_err(self.rpc_err("FindMissingBlobs"))?;
            missing.extend(r.into_inner().missing_blob_digests);
        }
        Ok(missing)
    }

    /// Uploads what of `blobs` the CAS lacks.
    pub async fn upload(&self, blobs: Vec<Upload>) -> Result<Moved> {
        let mut uniq = std::collections::BTreeMap::new();
        for b in blobs {
            uniq.entry(b.digest.hash.clone()).or_insert(b);
        }
        let digests: Vec<pb::Digest> = uniq.values().map(|b| b.digest.clone()).collect();
        let missing: std::collections::BTreeSet<String> =
            self.find_missing(&digests).await?.into_iter().map(|d| d.hash).collect();
        let mut moved = Moved::default();
        let mut batch: Vec<pb::batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0;
        for b in uniq.into_values().filter(|b| missing.contains(&b.digest.hash)) {
            moved.blobs += 1;
            moved.bytes += b.digest.size_bytes as u64;
            if b.digest.size_bytes > BATCH_BLOB {
                self.write_stream(&b).await?;
                continue;
            }
            if batch_bytes + b.digest.size_bytes > BATCH_TOTAL {
                self.batch_update(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += b.digest.size_bytes;
            batch.push(pb::batch_update_blobs_request::Request {
                digest: Some(b.digest.clone()),
                data: b.read_all()?,
                ..Default::default()
            });
        }
        if !batch.is_empty() {
            self.batch_update(batch).await?;
        }
        Ok(moved)
    }

    async fn batch_update(&self, requests: Vec<pb::batch_update_blobs_request::Request>) -> Result<()> {
        let req = pb::BatchUpdateBlobsRequest { instance_name: self.instance.clone(), requests, ..Default::default() };
        let r = self
            .retry(|| {
                let (mut c, r) = (self.cas(), self.req(req.clone()));
                async move { c.batch_update_blobs(r).await }
            })
            .await
            .map_err(self.rpc_err("BatchUpdateBlobs"))?;
        for resp in r.into_inner().responses {
            if let Some(s) = resp.status
                && s.code != 0
            {
                let status = tonic::Status::new(tonic::Code::from(s.code), s.message);
                return Err(self.rpc_err("BatchUpdateBlobs")(status));
            }
        }
        Ok(())
    }

    async fn write_stream(&self, b: &Upload) -> Result<()> {
        let name = self.resource(format!("uploads/{}/blobs/{}/{}", uuid(), b.digest.hash, b.digest.size_bytes));
        let (tx, rx) = tokio::sync::mpsc::channel::<bs::WriteRequest>(4);
        let source = b.source.clone();
        let size = b.digest.size_bytes;
        // Read on a blocking thread, send chunks as the stream wants them.
        let reader = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut r: Box<dyn Read> = match &source {
                Source::Bytes(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
                Source::File(p) => Box::new(std::fs::File::open(p).map_err(io("cannot open", p))?),
            };
            let mut offset = 0i64;
            let mut first = true;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = read_full(&mut r, &mut buf).map_err(|e| RemoteError::Io {
                    what: "cannot read a blob to upload",
                    path: PathBuf::from(&name),
                    source: e,
                })?;
                buf.truncate(n);
                let finish = offset + n as i64 >= size;
                let req = bs::WriteRequest {
                    resource_name: if first { name.clone() } else { String::new() },
                    write_offset: offset,
                    finish_write: finish,
                    data: buf,
                };
                first = false;
                offset += n as i64;
                if tx.blocking_send(req).is_err() || finish || n == 0 {
                    return Ok(());
                }
            }
        });
        let stream = tokio_stream_from(rx);
        let mut client = bs::byte_stream_client::ByteStreamClient::new(self.channel.clone());
        let r = client.write(self.req(stream)).await;
        reader.await.map_err(|e| RemoteError::Runtime(std::io::Error::other(e)))??;
        let r = r.map_err(self.rpc_err("ByteStream.Write"))?.into_inner();
        if r.committed_size != size && r.committed_size != -1 {
            let what = format!("committed {} of {} bytes of {}", r.committed_size, size, b.digest.hash);
            return Err(RemoteError::BadResult { step: "upload".into(), what });
        }
        Ok(())
    }

    /// Reads a (small) blob into memory, checking its digest.
    pub async fn read_blob(&self, d: &pb::Digest) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(d.size_bytes.max(0) as usize);
        self.read_into(d, &mut out).await?;
        Ok(out)
    }

    /// Streams blob `d` into `w`, checking its digest.
    async fn read_into(&self, d: &pb::Digest, w: &mut (dyn Write + Send)) -> Result<()> {
        if d.size_bytes == 0 {
            return Ok(());
        }
        let name = self.resource(format!("blobs/{}/{}", d.hash, d.size_bytes));
        let client = bs::byte_stream_client::ByteStreamClient::new(self.channel.clone());
        let req = bs::ReadRequest { resource_name: name.clone(), read_offset: 0, read_limit: 0 };
        let mut stream = match self
            .retry(|| {
                let (mut c, r) = (client.clone(), self.req(req.clone()));
                async move { c.read(r).await }
            })
            .await
        {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(RemoteError::MissingBlob { digest: format!("sha256:{}", d.hash) });
            }
            Err(s) => return Err(self.rpc_err("ByteStream.Read")(s)),
        };
        let mut h = sha2::Sha256::new();
        let mut n = 0i64;
        while let Some(chunk) = stream.message().await.map_err(self.rpc_err("ByteStream.Read"))? {
            h.update(&chunk.data);
            n += chunk.data.len() as i64;
            w.write_all(&chunk.data).map_err(io("cannot write", Path::new(&name)))?;
        }
        let got = hex::encode(h.finalize());
        if got != d.hash || n != d.size_bytes {
            return Err(RemoteError::CorruptBlob { digest: d.hash.clone(), got: format!("sha256:{got} ({n} bytes)") });
        }
        Ok(())
    }

    /// Downloads blob `d` to `path` (via a temp file beside it).
    pub async fn download_to_file(&self, d: &pb::Digest, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("cannot create a temp file in", dir))?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            self.read_into(d, &mut w).await?;
            w.flush().map_err(io("cannot write", path))?;
        }
        tmp.persist(path).map_err(|e| RemoteError::Io { what: "cannot write", path: path.into(), source: e.error })?;
        Ok(())
    }

    /// Downloads blob `d` into `store` unless it is there already; returns
    /// the bytes moved.
    pub async fn download_to_store(&self, store: &Store, d: &pb::Digest) -> Result<u64> {
        let oci = super::oci_digest(d)?;
        if store.has_blob(&oci) {
            return Ok(0);
        }
        let tmp = store.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(io("cannot create", &tmp))?;
        let file = tempfile::NamedTempFile::new_in(&tmp).map_err(io("cannot create a temp file in", &tmp))?;
        self.download_to_file(d, file.path()).await?;
        let f = std::fs::File::open(file.path()).map_err(io("cannot open", file.path()))?;
        store
            .put_verified(f, &oci)
            .map_err(|e| RemoteError::CorruptBlob { digest: d.hash.clone(), got: e.to_string() })?;
        Ok(d.size_bytes as u64)
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A receiver as the stream tonic sends from.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
