//! The images of one Parquet file, read a row group at a time when a batch needs them, so
//! that memory holds a few row groups rather than the split. The file's footer is read
//! once; each row group's image column is read (and decompressed) once while it stays among
//! the last few used. Readers that go through the rows in order (a cache's parts, the
//! student's resized store filled a few row groups at a time, `Dataset::prefill`) read
//! every row group once; random access would read a row group per image, which is why
//! nothing here is read in shuffled order.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::DataError;

/// The image column of one row group, as read: one array per record batch, and the first
/// row of each (a few large buffers, not one allocation per image).
#[derive(Debug)]
struct GroupImages {
    batches: Vec<ArrayRef>,
    starts: Vec<usize>,
    rows: usize,
}

impl GroupImages {
    /// The encoded bytes of row `row` (`Some(empty)` for a null image; `None` past the end).
    fn get(&self, row: usize) -> Option<Vec<u8>> {
        if row >= self.rows {
            return None;
        }
        let batch = self.starts.partition_point(|&start| start <= row) - 1;
        Some(image_bytes(&self.batches[batch], row - self.starts[batch]).unwrap_or_default())
    }
}

type Group = Arc<GroupImages>;

/// One slot of the row-group cache: filled by the first reader, whom the others wait for.
type Slot = Arc<Mutex<Option<Group>>>;

/// The row groups read last, of all the files of a split (so memory holds a few row groups
/// however many files there are), most recent at the back.
#[derive(Debug)]
pub struct RowGroupCache {
    /// (file number, row group) and its slot.
    kept: Mutex<VecDeque<((usize, usize), Slot)>>,
    /// How many row groups `kept` holds at most.
    capacity: usize,
}

impl RowGroupCache {
    /// A cache of a few row groups: every decoding thread may be in a row group of its own,
    /// and a batch may end in the next one.
    pub(crate) fn new() -> Arc<Self> {
        Self::with_capacity(2 * rayon::current_num_threads() + 2)
    }

    /// A cache of at most `capacity` row groups.
    fn with_capacity(capacity: usize) -> Arc<Self> {
        Arc::new(RowGroupCache {
            kept: Mutex::new(VecDeque::new()),
            capacity,
        })
    }

    /// The slot of row group `key`: kept (now the most recent), or a new empty one, in
    /// place of the one used least recently.
    fn slot(&self, key: (usize, usize)) -> Slot {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let found = kept.iter().position(|(k, _)| *k == key);
        match found.and_then(|at| kept.remove(at)) {
            Some(entry) => {
                let slot = entry.1.clone();
                kept.push_back(entry);
                slot
            }
            None => {
                let slot = Slot::default();
                kept.push_back((key, slot.clone()));
                if kept.len() > self.capacity {
                    kept.pop_front();
                }
                slot
            }
        }
    }
}

/// The image column of one Parquet file.
pub struct ParquetImages {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    /// The image column alone.
    mask: ProjectionMask,
    column: String,
    /// The split's row groups read last, and this file's number among them.
    cache: Arc<RowGroupCache>,
    number: usize,
    /// Row groups read from the file so far.
    reads: AtomicUsize,
}

impl std::fmt::Debug for ParquetImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetImages")
            .field("path", &self.path)
            .field("column", &self.column)
            .finish_non_exhaustive()
    }
}

impl ParquetImages {
    /// The images of column `column` (a root column, at `mask`) of the file at `path`,
    /// whose footer is `metadata`: file `number` of those sharing `cache`.
    pub(crate) fn new(
        path: &Path,
        metadata: ArrowReaderMetadata,
        (mask, column): (ProjectionMask, String),
        (cache, number): (Arc<RowGroupCache>, usize),
    ) -> Self {
        ParquetImages {
            path: path.to_path_buf(),
            metadata,
            mask,
            column,
            cache,
            number,
            reads: AtomicUsize::new(0),
        }
    }

    /// The encoded bytes of row `row` of row group `group` (none for a null image: no
    /// bytes, which fail to decode and are reported as a bad image).
    pub(crate) fn image(&self, group: usize, row: usize) -> Result<Vec<u8>, DataError> {
        let images = self.group(group)?;
        images.get(row).ok_or_else(|| {
            DataError::invalid(
                &self.path,
                format!(
                    "row group {group} has {} rows, not {} (changed since it was listed?)",
                    images.rows,
                    row + 1
                ),
            )
        })
    }

    /// Row group `group`'s images: kept, or read now (and kept, in place of the one used
    /// least recently).
    fn group(&self, group: usize) -> Result<Group, DataError> {
        let slot = self.cache.slot((self.number, group));
        // Readers of the same row group wait here for the first one; a failed read leaves
        // the slot empty, for the next reader to try (and fail with its own error).
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rows) = slot.as_ref() {
            return Ok(rows.clone());
        }
        let rows = Arc::new(self.read_group(group)?);
        *slot = Some(rows.clone());
        Ok(rows)
    }

    /// How many row groups have been read from the file (a row group read again after it
    /// was dropped counts again).
    pub fn row_groups_read(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// Reads the image column of row group `group` from the file.
    fn read_group(&self, group: usize) -> Result<GroupImages, DataError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let parquet_err = |source| DataError::Parquet {
            path: self.path.clone(),
            source,
        };
        // A handle of its own: clones of one `File` share its position, and other threads
        // read other row groups at the same time.
        let file = File::open(&self.path).map_err(|e| DataError::io(&self.path, e))?;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_projection(self.mask.clone())
                .build()
                .map_err(parquet_err)?;
        let mut images = GroupImages {
            batches: Vec::new(),
            starts: Vec::new(),
            rows: 0,
        };
        for batch in reader {
            let batch = batch.map_err(|source| DataError::Arrow {
                path: self.path.clone(),
                source,
            })?;
            let column = batch.column_by_name(&self.column).ok_or_else(|| {
                DataError::invalid(&self.path, "image column vanished on reading")
            })?;
            images.starts.push(images.rows);
            images.rows += batch.num_rows();
            images.batches.push(column.clone());
        }
        Ok(images)
    }
}

/// The encoded bytes of row `i` of an image column, `None` when null.
pub(crate) fn image_bytes(column: &ArrayRef, i: usize) -> Option<Vec<u8>> {
    if column.is_null(i) {
        return None;
    }
    if let Some(s) = column.as_struct_opt() {
        return image_bytes(s.column_by_name("bytes")?, i);
    }
    if let Some(b) = column.as_binary_opt::<i32>() {
        return Some(b.value(i).to_vec());
    }
    if let Some(b) = column.as_binary_opt::<i64>() {
        return Some(b.value(i).to_vec());
    }
    column.as_binary_view_opt().map(|b| b.value(i).to_vec())
}

/// Where an image of a Parquet file is: its row group and its row within it.
#[derive(Debug, Clone)]
pub struct ParquetCell {
    pub(crate) images: Arc<ParquetImages>,
    pub(crate) group: usize,
    pub(crate) row: usize,
}

impl ParquetCell {
    /// The encoded bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, DataError> {
        self.images.image(self.group, self.row)
    }

    /// The row group the image is read with: (the file's number in its split, the group).
    pub(crate) fn row_group(&self) -> (usize, usize) {
        (self.images.number, self.group)
    }
}

impl PartialEq for ParquetCell {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.images, &other.images)
            && (self.group, self.row) == (other.group, other.row)
    }
}

impl Eq for ParquetCell {}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ArrowReaderOptions;
    use parquet::file::properties::WriterProperties;

    /// File `number` of those sharing `cache`: 60 rows `row 0`, `row 1`, ... in row groups
    /// of 5, written into `dir`.
    fn images(dir: &Path, cache: &Arc<RowGroupCache>, number: usize) -> ParquetImages {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "image",
            DataType::Binary,
            false,
        )]));
        let rows: Vec<Vec<u8>> = (0..60).map(|i| format!("row {i}").into_bytes()).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(BinaryArray::from_iter_values(&rows))],
        )
        .unwrap();
        let path = dir.join(format!("images-{number}.parquet"));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(5))
            .build();
        let mut writer =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let file = File::open(&path).unwrap();
        let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).unwrap();
        assert_eq!(metadata.metadata().num_row_groups(), 12);
        let mask = ProjectionMask::roots(metadata.parquet_schema(), [0]);
        let column = (mask, "image".to_string());
        ParquetImages::new(&path, metadata, column, (cache.clone(), number))
    }

    #[test]
    fn rows_in_order_read_each_row_group_once_and_memory_keeps_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RowGroupCache::with_capacity(4);
        let (first, second) = (images(dir.path(), &cache, 0), images(dir.path(), &cache, 1));
        for images in [&first, &second] {
            for i in 0..60 {
                assert_eq!(
                    images.image(i / 5, i % 5).unwrap(),
                    format!("row {i}").as_bytes()
                );
            }
            assert_eq!(images.row_groups_read(), 12);
        }
        // Both files' row groups count against one budget: going back to the first file's
        // last row group after the second file's 12 reads it again.
        assert_eq!(cache.kept.lock().unwrap().len(), 4);
        second.image(11, 0).unwrap();
        assert_eq!(second.row_groups_read(), 12);
        first.image(11, 0).unwrap();
        assert_eq!(first.row_groups_read(), 13);

        // Rows of one group from many threads at once: read once.
        let images = super::tests::images(dir.path(), &RowGroupCache::new(), 2);
        rayon::scope(|s| {
            for row in 0..5 {
                let images = &images;
                s.spawn(move |_| {
                    images.image(3, row).unwrap();
                });
            }
        });
        assert_eq!(images.row_groups_read(), 1);
        let err = images.image(3, 5).unwrap_err().to_string();
        assert!(err.contains("has 5 rows"), "{err}");
    }
}
