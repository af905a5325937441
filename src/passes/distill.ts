import { z } from 'zod';
import { countParameters } from '../onnx/summary';
import { defineStage } from './types';
import { describeTraining, hostedTraining, trainConfig, trainingParamShape } from './trainParams';

export const distillParams = z.object({
  student: z
    .enum(['narrow', 'shallow', 'file'])
    .default('narrow')
    .describe(
      'The student: a narrower copy of the model (channel pruning at `width`), a shallower copy (repeated blocks removed), or a .onnx file you supply.',
    ),
  width: z
    .number()
    .min(0.1)
    .max(1)
    .default(0.5)
    .describe(
      'Narrow student: share of the channels of every Conv and of the neurons of every hidden Gemm/MatMul it keeps (0.5 keeps about a quarter of the parameters of dense layers).',
    ),
  depth: z
    .number()
    .min(0.1)
    .max(0.9)
    .default(0.5)
    .describe('Shallow student: share of each run of repeated blocks it keeps (at least one block per run).'),
  init: z
    .enum(['teacher', 'random'])
    .default('teacher')
    .describe(
      'Narrow or shallow student: start from the teacher’s remaining weights, or from a fresh random initialisation (then the baseline measures what the soft targets alone gain).',
    ),
  studentFile: z
    .string()
    .default('')
    .describe('File student: the name of the student .onnx file you added to the pipeline.'),
  temperature: z
    .number()
    .min(1)
    .max(20)
    .default(4)
    .describe(
      'Softmax temperature T of the soft targets: higher shows the student more of the teacher’s ranking of wrong classes.',
    ),
  alpha: z
    .number()
    .min(0)
    .max(1)
    .default(0.3)
    .describe(
      'Weight α of the hard-label cross-entropy; 1 − α weighs the soft targets. Ignored without labels.',
    ),
  baseline: z
    .boolean()
    .default(false)
    .describe(
      'Also train the same student from a fresh random initialisation on labels only, with the same epochs, and report both accuracies.',
    ),
  ...trainingParamShape,
  epochs: trainingParamShape.epochs.unwrap().default(10).describe('Passes over the training split.'),
  learningRate: trainingParamShape.learningRate
    .unwrap()
    .default(1e-3)
    .describe(
      'Initial learning rate (the student moves further from its starting point than fine-tuning does).',
    ),
  batchNorm: trainingParamShape.batchNorm
    .unwrap()
    .default('train')
    .describe(
      'BatchNormalization: normalise with batch statistics and update them (the student’s channels differ from the teacher’s), or keep the running statistics fixed.',
    ),
});
export type DistillParams = z.output<typeof distillParams>;

const percent = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`);

/**
 * `distill`: knowledge distillation. The model entering the stage is the teacher; onnxruntime runs it
 * once over the training and calibration splits for its logits. The student — a narrower or
 * shallower copy of the teacher, or a user's file — trains on the teacher's softened outputs (and the
 * labels, when there are any) and leaves the stage as its output. With `baseline`, the same student
 * also trains from scratch on labels only so the notes show what distillation gained.
 */
export const distill = defineStage({
  id: 'distill',
  title: 'Distill',
  description:
    'Train a smaller student (narrower, shallower, or your own .onnx) to mimic this model’s outputs; works without labels.',
  category: 'train',
  params: distillParams,
  needs: { labels: false },
  async run(teacher, params, ctx) {
    const dataset = ctx.data;
    if (!dataset)
      throw new Error('Distillation needs a dataset with a training split: open one in the dataset panel.');
    if (!dataset.splits.train.length)
      throw new Error(
        `Distillation needs a training split, and the dataset "${dataset.name}" puts no samples in "train".`,
      );
    const [students, train, { trainingData }, { crossEntropy }] = await Promise.all([
      import('../train/students'),
      import('../train/distill'),
      import('../train/data'),
      import('../train/trainer'),
    ]);
    const data = trainingData(dataset);
    const labelled = dataset.hasLabels;

    let student;
    if (params.student === 'narrow') student = await students.narrowStudent(teacher, params.width, ctx);
    else if (params.student === 'shallow') student = students.shallowStudent(teacher, params.depth);
    else {
      const name = params.studentFile.trim();
      if (!name) throw new Error('Name the student .onnx file (studentFile) for a file student.');
      const bytes = ctx.files?.get(name);
      if (!bytes)
        throw new Error(
          `The student file "${name}" was not added to the pipeline` +
            (ctx.files?.size ? ` (it holds ${[...ctx.files.keys()].map((k) => `"${k}"`).join(', ')}).` : '.'),
        );
      student = students.fileStudent(name, bytes, {
        sampleShape: data.sampleShape,
        input: data.input,
        outputs: teacher.graph.outputs.map((o) => o.name),
      });
    }
    if (params.init === 'random' && params.student !== 'file') {
      student = { ...student, model: students.reinitializeWeights(student.model, params.seed + 1) };
      student.description += '; weights freshly initialised (He/Glorot)';
    }
    ctx.signal.throwIfAborted();

    ctx.progress(0, 1, 'teacher: computing soft targets');
    const input = { name: dataset.input.name, sampleShape: data.sampleShape };
    const onTrain = await train.teacherLogits(teacher, ctx.runtime, input, data.train, {
      signal: ctx.signal,
    });
    data.train.teacher = onTrain.logits;
    const classes = onTrain.classes;
    let teacherAccuracy: number | undefined;
    if (data.validation) {
      const onValidation = await train.teacherLogits(teacher, ctx.runtime, input, data.validation, {
        signal: ctx.signal,
      });
      data.validation.teacher = onValidation.logits;
      if (data.validation.labels)
        teacherAccuracy = train.topOneAccuracy(onValidation.logits, classes, data.validation.labels);
      // Without labels, validation accuracy is agreement with the teacher.
      else data.validation.labels = train.argmaxRows(onValidation.logits, classes);
    }
    ctx.signal.throwIfAborted();

    const config = trainConfig(params);
    const hosted = await hostedTraining(ctx, 'distill');
    const distilled = await train.trainStudent(student.model, data, config, {
      ...hosted,
      loss: train.distillationLoss(params.temperature, params.alpha, labelled),
      backend: ctx.training?.backend,
    });

    const teacherParameters = countParameters(teacher.graph);
    const notes = [
      student.description,
      `teacher ${teacherParameters.toLocaleString('en-US')} parameters` +
        (teacherAccuracy !== undefined ? `, ${percent(teacherAccuracy)} on the calibration split` : '') +
        `; student ${student.parameters.toLocaleString('en-US')} parameters (${((student.parameters / teacherParameters) * 100).toFixed(1)} % of the teacher's)`,
      describeTraining('distill', distilled.training, hosted.resumedAt),
      labelled
        ? `distilled student: ${percent(distilled.accuracy)} on the calibration split (T = ${params.temperature}, α = ${params.alpha})`
        : `distilled student: agrees with the teacher on ${percent(distilled.accuracy)} of the calibration split (no labels: soft targets only, T = ${params.temperature})`,
    ];

    if (params.baseline && !labelled)
      notes.push('baseline not trained: training from scratch needs labels, and the dataset has none');
    else if (params.baseline) {
      // The same seed as init "random": then both students start from the same weights.
      const scratch = students.reinitializeWeights(student.model, params.seed + 1);
      const fromTeacher = params.init === 'teacher' && params.student !== 'file';
      const labelsOnly = {
        ...data,
        train: { ...data.train, teacher: undefined },
        validation: data.validation && { ...data.validation, teacher: undefined },
      };
      const hostedBaseline = await hostedTraining(ctx, 'distill-baseline');
      // Fresh running statistics mean nothing: the scratch student always learns them from batches.
      const baseline = await train.trainStudent(
        scratch,
        labelsOnly,
        { ...config, batchNorm: 'train' },
        {
          ...hostedBaseline,
          loss: crossEntropy,
          backend: ctx.training?.backend,
        },
      );
      notes.push(
        describeTraining('baseline', baseline.training, hostedBaseline.resumedAt),
        `same student from scratch (He/Glorot initialisation, labels only, ${config.epochs} epochs): ${percent(baseline.accuracy)} on the calibration split; distillation ${
          distilled.accuracy !== undefined && baseline.accuracy !== undefined
            ? `${distilled.accuracy >= baseline.accuracy ? 'gains' : 'loses'} ${(Math.abs(distilled.accuracy - baseline.accuracy) * 100).toFixed(1)} points`
            : 'cannot be compared (no validation split)'
        }` +
          (fromTeacher
            ? '; the distilled student also started from the teacher’s weights (init "random" measures the soft targets alone)'
            : ''),
      );
    }
    await ctx.training?.checkpoints?.clear();
    ctx.progress(1, 1);
    return { model: distilled.model, notes, changes: student.changes };
  },
});
