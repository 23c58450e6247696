//! The encoded training matrix, row-compressed (CSR).
//!
//! One-hot encoding makes the pipeline's output mostly zeros: Adult has 108
//! columns but 14 non-zeros a row. The learners walk only the non-zeros, so
//! their cost grows with the number of features, not with the number of
//! categories.

use ndarray::ArrayView2;

use crate::data::dataset::Frame;
use crate::data::schema::FieldProblem;
use crate::train::pipeline::FeaturePipeline;

/// Rows of encoded features; absent entries are 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseRows {
    n_cols: usize,
    /// Row `r`'s entries are `indptr[r]..indptr[r + 1]`.
    indptr: Vec<usize>,
    /// Column of each entry, increasing within a row.
    indices: Vec<u32>,
    values: Vec<f64>,
}

impl SparseRows {
    /// Encodes a frame through a fitted pipeline, without the dense matrix.
    /// A value that cannot be encoded (only with `unseen: error`) is reported with its row.
    pub fn encode(
        pipeline: &FeaturePipeline,
        frame: &Frame,
    ) -> Result<SparseRows, (usize, FieldProblem)> {
        let n_rows = frame.n_rows();
        let n_features = frame.columns.len();
        // Feature-major scratch of one slot per (row, feature); features map to
        // disjoint, increasing column ranges, so each row comes out sorted.
        let mut slots: Vec<Option<(u32, f64)>> = vec![None; n_rows * n_features];
        for (feature, column) in frame.columns.iter().enumerate() {
            for (row, value) in column.iter().enumerate() {
                let (entry, _) = pipeline
                    .encode_sparse(feature, value)
                    .map_err(|p| (row, p))?;
                // An explicit 0 (a numeric value at the mean) is dropped, as in `from_dense`.
                slots[row * n_features + feature] =
                    entry.filter(|e| e.1 != 0.0).map(|(c, x)| (c as u32, x));
            }
        }
        let mut rows = SparseRows::with_capacity(pipeline.width(), n_rows, slots.len());
        for row in slots.chunks(n_features.max(1)).take(n_rows) {
            rows.push_row(row.iter().flatten().copied());
        }
        Ok(rows)
    }

    /// The non-zeros of a dense matrix.
    pub fn from_dense(x: ArrayView2<f64>) -> SparseRows {
        let mut rows = SparseRows::with_capacity(x.ncols(), x.nrows(), x.len());
        for row in x.rows() {
            rows.push_row(
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(c, v)| (c as u32, *v)),
            );
        }
        rows
    }

    fn with_capacity(n_cols: usize, n_rows: usize, nnz: usize) -> SparseRows {
        let mut indptr = Vec::with_capacity(n_rows + 1);
        indptr.push(0);
        SparseRows {
            n_cols,
            indptr,
            indices: Vec::with_capacity(nnz),
            values: Vec::with_capacity(nnz),
        }
    }

    fn push_row(&mut self, entries: impl Iterator<Item = (u32, f64)>) {
        for (column, value) in entries {
            self.indices.push(column);
            self.values.push(value);
        }
        self.indptr.push(self.indices.len());
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Columns and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f64]) {
        let range = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// `x_r · w` for every row, into `out`.
    pub fn dot_rows(&self, w: &[f64], out: &mut [f64]) {
        for (r, out) in out.iter_mut().enumerate() {
            let (columns, values) = self.row(r);
            *out = columns
                .iter()
                .zip(values)
                .map(|(&c, &v)| v * w[c as usize])
                .sum();
        }
    }

    /// `out += Σ_r coefficients[r] · x_r` (that is, `Xᵀ·coefficients`).
    pub fn add_transposed(&self, coefficients: &[f64], out: &mut [f64]) {
        for (r, &a) in coefficients.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let (columns, values) = self.row(r);
            for (&c, &v) in columns.iter().zip(values) {
                out[c as usize] += a * v;
            }
        }
    }
}

impl linfa::dataset::Records for SparseRows {
    type Elem = f64;

    fn nsamples(&self) -> usize {
        self.n_rows()
    }

    fn nfeatures(&self) -> usize {
        self.n_cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::{FeatureSchema, Value};
    use crate::train::pipeline::PipelineSpec;
    use ndarray::array;

    #[test]
    fn encoding_a_frame_equals_the_dense_transform() {
        let schema: FeatureSchema = serde_yaml::from_str(
            "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: c, type: categorical, nullable: true}\n  - {name: x, type: numeric, nullable: true}\n",
        )
        .expect("schema");
        let frame = Frame {
            columns: vec![
                vec![
                    Value::Category("red".into()),
                    Value::Missing,
                    Value::Category("blue".into()),
                ],
                vec![Value::Number(1.0), Value::Number(2.0), Value::Missing],
            ],
            target: vec![0, 1, 0],
        };
        let pipeline = FeaturePipeline::fit(&schema, &frame, &PipelineSpec::default());
        let dense = pipeline.transform(&frame).expect("dense");
        let sparse = SparseRows::encode(&pipeline, &frame).expect("sparse");
        assert_eq!(sparse, SparseRows::from_dense(dense.view()));
        assert_eq!((sparse.n_rows(), sparse.n_cols(), sparse.nnz()), (3, 4, 5));
    }

    #[test]
    fn products_match_the_dense_ones() {
        let x = array![[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, -1.0]];
        let rows = SparseRows::from_dense(x.view());
        let w = [0.5, -1.0, 2.0];
        let mut z = [9.0; 3];
        rows.dot_rows(&w, &mut z);
        assert_eq!(z.to_vec(), x.dot(&array![0.5, -1.0, 2.0]).to_vec());
        let mut g = [1.0; 3];
        rows.add_transposed(&[1.0, 5.0, 2.0], &mut g);
        assert_eq!(g, [2.0, 7.0, 1.0]);
    }
}
